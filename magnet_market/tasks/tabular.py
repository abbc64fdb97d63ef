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
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from magnet_market.datasets import DatasetError
from magnet_market.datasets.local import LocalDataset


@dataclass
class TabularData:
    """Train and validation tensors of a packed tabular dataset.

    Args:
        dataset_dir: a verified dataset folder (``LocalDataset``).
    """

    dataset_dir: str | Path
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
        val_x, self.val_y = self._rows("val")
        self.val_x = torch.from_numpy(val_x / self.scale)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def _rows(self, split: str) -> tuple[np.ndarray, torch.Tensor]:
        table = self.dataset.read(split)
        columns = [table.column(f).cast(pa.float32()).to_numpy() for f in self.features]
        x = np.stack(columns, axis=1).astype(np.float32)
        index = {c: i for i, c in enumerate(self.classes)}
        labels = table.column(str(self.dataset.manifest.label)).to_pylist()
        unknown = sorted({v for v in labels if v not in index})
        if unknown:
            raise DatasetError(f"{split} labels {unknown[:5]} are not among the manifest's classes")
        return x, torch.tensor([index[v] for v in labels], dtype=torch.int64)

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random rows: ``x (B, n_features)`` float32, ``y (B,)`` int64."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        x, y = (self.train_x, self.train_y) if split == "train" else (self.val_x, self.val_y)
        ix = torch.randint(0, x.shape[0], (batch_size,), generator=generator)
        return x[ix], y[ix]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation loss and balanced accuracy on the whole validation split."""
        was_training = model.training
        model.eval()
        logits, loss = model(self.val_x, self.val_y)
        model.train(was_training)
        pred = logits.argmax(dim=-1).numpy()
        return {
            "val_loss": float(loss),
            "balanced_accuracy": float(balanced_accuracy_score(self.val_y.numpy(), pred)),
        }
