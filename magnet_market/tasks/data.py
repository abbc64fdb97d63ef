"""The data every party of a task uses: built from the spec, so splits agree everywhere."""

from __future__ import annotations

from magnet_market.bitnet.model import TransformerConfig
from magnet_market.tasks.digits import DigitsData
from magnet_market.tasks.spec import TaskSpec
from magnet_market.tasks.tinylm import TinyLMData


def data_options(spec: TaskSpec) -> dict[str, int]:
    """The keyword options of the task's data class that the spec fixes.

    The same options build the coordinator's data and every contributor's autoresearch data, so
    a search scores on exactly the validation split the round is judged on.
    """
    if spec.kind == "tinylm":
        cfg = spec.model_config_obj()
        assert isinstance(cfg, TransformerConfig)
        return {"seq_len": cfg.seq_len}
    return {"split_seed": spec.seed}


def task_data(spec: TaskSpec) -> TinyLMData | DigitsData:
    """Train/validation data of ``spec``'s task (the validation split is the held-out one)."""
    options = data_options(spec)
    if spec.kind == "tinylm":
        return TinyLMData(seq_len=options["seq_len"])
    return DigitsData(split_seed=options["split_seed"])
