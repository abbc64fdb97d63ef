"""The data every party of a task uses: built from the spec, so splits agree everywhere."""

from __future__ import annotations

from pathlib import Path

from magnet_market.bitnet.model import TransformerConfig
from magnet_market.bitnet.train import TaskData
from magnet_market.tasks.digits import DigitsData
from magnet_market.tasks.rows import JudgedSplit
from magnet_market.tasks.series_dataset import SeriesDatasetData
from magnet_market.tasks.spec import DATASET_KINDS, TaskSpec
from magnet_market.tasks.tabular import TabularData
from magnet_market.tasks.text import TextData
from magnet_market.tasks.tinylm import TinyLMData


def data_options(spec: TaskSpec, dataset_dir: Path | None = None) -> dict[str, int | str]:
    """The keyword options of the task's data class that the spec fixes.

    The same options build the coordinator's data and every contributor's autoresearch data, so
    a search scores on exactly the validation split the round is judged on. A dataset task's
    data is its verified dataset folder (``dataset_dir``, fetched by the application layer).
    """
    options: dict[str, int | str] = {}
    if spec.kind in DATASET_KINDS:
        if dataset_dir is None:
            raise ValueError(f"a {spec.kind} task's data needs its dataset folder")
        options["dataset_dir"] = str(dataset_dir)
        if spec.kind in ("tabular", "series"):
            return options
    if spec.kind in ("tinylm", "text"):
        cfg = spec.model_config_obj()
        assert isinstance(cfg, TransformerConfig)
        return {**options, "seq_len": cfg.seq_len}
    return {"split_seed": spec.seed}


def task_data(
    spec: TaskSpec, dataset_dir: Path | None = None, judged_split: JudgedSplit = "val"
) -> TaskData:
    """Train/validation data of ``spec``'s task (the validation split is the held-out one).
    ``judged_split="holdout"`` scores a dataset task's holdout instead, which nobody searches on.
    """
    options = data_options(spec, dataset_dir)
    if judged_split != "val" and spec.kind not in DATASET_KINDS:
        raise ValueError(f"a {spec.kind} task has no holdout split: only dataset tasks do")
    if spec.kind == "tabular":
        return TabularData(dataset_dir=str(options["dataset_dir"]), judged_split=judged_split)
    if spec.kind == "series":
        return SeriesDatasetData(dataset_dir=str(options["dataset_dir"]), judged_split=judged_split)
    if spec.kind == "text":
        return TextData(
            dataset_dir=str(options["dataset_dir"]),
            seq_len=int(options["seq_len"]),
            judged_split=judged_split,
        )
    if spec.kind == "tinylm":
        return TinyLMData(seq_len=int(options["seq_len"]))
    return DigitsData(split_seed=int(options["split_seed"]))
