"""The ``tabular`` task: a sponsor's table of numeric features and a class label, by dataset CID.

Rows come from the dataset's Parquet shards (``datasets/``): features in the manifest's column
order, each divided by its largest magnitude on the train split (a maximum, so every machine
gets the same scale, bit for bit), and the label mapped to its index among the manifest's
sorted classes. Metric: balanced accuracy on the validation split, like ``digits``.
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


@dataclass
class TabularData(ClassifiedRows):
    """Train and validation tensors of a packed tabular dataset.

    Args:
        dataset_dir: a verified dataset folder (``LocalDataset``).
        judged_split: the split ``evaluate`` scores: ``val`` (what rounds are judged on) or
            ``holdout`` (what nobody searched on, for the sponsor's own figures).
    """

    dataset_dir: str | Path
    judged_split: JudgedSplit = "val"
    dataset: LocalDataset = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.dataset = LocalDataset.open(self.dataset_dir)
        m = self.dataset.manifest
        if m.kind != "tabular" or m.label is None:
            raise DatasetError(f"dataset in {self.dataset_dir} is {m.kind}, not tabular")
        self.features = m.features
        self.classes = m.classes
        train_x, self.train_y = self._rows("train")
        scale = np.abs(train_x).max(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        self.train_x = torch.from_numpy(train_x / self.scale)
        val_x, self.val_y = self._rows(checked_split(self.judged_split))
        self.val_x = torch.from_numpy(val_x / self.scale)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def _rows(self, split: str) -> tuple[np.ndarray, torch.Tensor]:
        table = self.dataset.read(split)
        x = np.stack([numeric_column(table, f) for f in self.features], axis=1).astype(np.float32)
        index = {c: i for i, c in enumerate(self.classes)}
        labels = table.column(str(self.dataset.manifest.label)).to_pylist()
        unknown = sorted({v for v in labels if v not in index})
        if unknown:
            raise DatasetError(f"{split} labels {unknown[:5]} are not among the manifest's classes")
        return x, torch.tensor([index[v] for v in labels], dtype=torch.int64)

    def features_of(self, table: pa.Table) -> torch.Tensor:
        """A user's rows as the model reads them: the dataset's feature columns, scaled as in
        training (``magnet infer``); other columns are ignored."""
        x = np.stack([numeric_column(table, f) for f in self.features], axis=1).astype(np.float32)
        return torch.from_numpy(x / self.scale)
