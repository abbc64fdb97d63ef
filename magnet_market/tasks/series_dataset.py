"""The ``series`` market task: the next-step direction of a sponsor's time series, by dataset CID.

The dataset (``datasets/``, packed with ``--time COL``) holds its rows in time order, split by
time: train, then validation, then the holdout. The series called is the first value column;
every value column is an input. Example ``t`` reads the last ``WINDOW`` changes of each column
up to row ``t`` (each column's changes divided by their largest magnitude on the train split:
a maximum, so every machine gets the same scale) and calls whether the first column rises from
row ``t`` to ``t + 1``; rows where it stays level are not called. An example belongs to a split
when both its rows do, so no label reaches across a split; its inputs may look back into earlier
splits (the past is known). The holdout is read only when judged on (``judged_split``).
Metric: hit rate on the validation split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from magnet_market.datasets import DatasetError
from magnet_market.datasets.local import LocalDataset
from magnet_market.tasks.rows import ClassifiedRows, JudgedSplit, checked_split, numeric_column

WINDOW = 32  # past changes per column per example
N_CLASSES = 2  # 0: down, 1: up


@dataclass
class SeriesDatasetData(ClassifiedRows):
    """Train and validation examples of a packed series dataset.

    Args:
        dataset_dir: a verified dataset folder (``LocalDataset``).
        window: past changes per column per example.
        judged_split: the split ``evaluate`` scores (``val``, or ``holdout``: the most recent
            rows, for a sponsor's figures on data nobody searched on).
    """

    dataset_dir: str | Path
    window: int = WINDOW
    judged_split: JudgedSplit = "val"
    dataset: LocalDataset = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        self.dataset = LocalDataset.open(self.dataset_dir)
        m = self.dataset.manifest
        if m.kind != "series":
            raise DatasetError(f"dataset in {self.dataset_dir} is {m.kind}, not series")
        self.columns = m.features
        judged = checked_split(self.judged_split)
        # every part of the series up to the judged one, in time order
        tables = [self.dataset.read(part) for part in self.dataset.reads_through(judged)]
        values = np.concatenate([self._values(t) for t in tables])  # (rows, columns)
        change = np.diff(values, axis=0, prepend=values[:1])
        ends = np.cumsum([t.num_rows for t in tables])  # each split's end row
        scale = np.abs(change[: ends[0]]).max(axis=0)
        self.change_scale = np.where(scale > 0, scale, 1.0)
        change = change / self.change_scale
        ranges = {"train": (self.window, ends[0] - 1)}
        ranges[judged] = (max(ends[-2], self.window), ends[-1] - 1)
        examples = {}
        for split, (lo, hi) in ranges.items():
            t = np.array([i for i in range(lo, hi) if values[i + 1, 0] != values[i, 0]], dtype=int)
            if len(t) == 0:
                raise DatasetError(
                    f"no {split} examples: the {split} split needs more than {self.window} + 1 "
                    "rows whose first column moves"
                )
            windows = np.stack([change[i - self.window + 1 : i + 1].reshape(-1) for i in t])
            labels = (values[t + 1, 0] > values[t, 0]).astype(np.int64)
            examples[split] = torch.from_numpy(windows.astype(np.float32)), torch.from_numpy(labels)
        (self.train_x, self.train_y), (self.val_x, self.val_y) = examples["train"], examples[judged]

    def _values(self, table: pa.Table) -> np.ndarray:
        return np.stack([numeric_column(table, c) for c in self.columns], axis=1)

    def window_of(self, table: pa.Table) -> torch.Tensor:
        """The example after the last of a user's rows (the series' most recent rows, oldest
        first), scaled as in training (``magnet infer``): ``(1, window * columns)``."""
        if table.num_rows < self.window + 1:
            raise DatasetError(
                f"the rows hold {table.num_rows} steps; calling the next needs the last "
                f"{self.window + 1}"
            )
        change = np.diff(self._values(table), axis=0)[-self.window :] / self.change_scale
        return torch.from_numpy(change.reshape(1, -1).astype(np.float32))

    @property
    def n_features(self) -> int:
        return self.window * len(self.columns)

    def scores(self, labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
        """Hit rate: the share of correct up/down calls."""
        return {"hit_rate": float(np.mean(predicted == labels))}
