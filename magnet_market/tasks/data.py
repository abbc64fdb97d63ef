"""The data every party of a task uses: built from the spec, so splits agree everywhere."""

from __future__ import annotations

from magnet_market.bitnet.model import TransformerConfig
from magnet_market.tasks.digits import DigitsData
from magnet_market.tasks.spec import TaskSpec
from magnet_market.tasks.tinylm import TinyLMData


def task_data(spec: TaskSpec) -> TinyLMData | DigitsData:
    """Train/validation data of ``spec``'s task (the validation split is the held-out one)."""
    cfg = spec.model_config_obj()
    if spec.kind == "tinylm":
        assert isinstance(cfg, TransformerConfig)
        return TinyLMData(seq_len=cfg.seq_len)
    return DigitsData(split_seed=spec.seed)
