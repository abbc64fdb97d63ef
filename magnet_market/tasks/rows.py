"""Rows of a classification task, as the trainer samples them and judges score them.

``digits``, ``tabular`` and ``series`` tasks all hold feature rows and class labels split into
train and validation; only how the rows are made and which score counts differ.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from magnet_market.datasets import DatasetError

#: What a task's ``evaluate`` scores: ``val``, the split contributors search on and claim on;
#: ``holdout``, an unsealed holdout (a sponsor's own figures); or ``holdout:r``, slice r of a
#: sealed holdout, opened with round r's key (what round r is credited on).
JudgedSplit = str


def checked_split(split: str) -> str:
    """``split`` if it can be judged on, else a ``ValueError`` naming those that can."""
    _, _, number = split.partition(":")
    if split not in ("val", "holdout") and not (split.startswith("holdout:") and number.isdigit()):
        raise ValueError(f"judged_split must be 'val', 'holdout' or 'holdout:R', got {split!r}")
    return split


class ClassifiedRows:
    """Train and validation rows; subclasses set ``train_x``, ``train_y``, ``val_x`` and
    ``val_y`` (float32 features, int64 labels) and may score differently (:meth:`scores`)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random rows: ``x (B, features)`` float32, ``y (B,)`` int64."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        x, y = (self.train_x, self.train_y) if split == "train" else (self.val_x, self.val_y)
        ix = torch.randint(0, x.shape[0], (batch_size,), generator=generator)
        return x[ix], y[ix]

    def scores(self, labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
        """The task's scores of ``predicted`` classes (default: balanced accuracy, the mean
        recall per class, which a majority-class guess cannot inflate). Classes absent from
        ``labels`` have no recall and are left out, as in scikit-learn: a small holdout slice
        may lack one."""
        recalls = [np.mean(predicted[labels == c] == c) for c in np.unique(labels)]
        return {"balanced_accuracy": float(np.mean(recalls))}

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation loss and the task's scores on the whole validation split."""
        was_training = model.training
        model.eval()
        logits, loss = model(self.val_x, self.val_y)
        model.train(was_training)
        predicted = logits.argmax(dim=-1).numpy()
        return {"val_loss": float(loss), **self.scores(self.val_y.numpy(), predicted)}


def numeric_column(table: pa.Table, name: str) -> np.ndarray:
    """Column ``name`` of a user's table as numbers, or a ``DatasetError`` saying what is wrong."""
    if name not in table.column_names:
        raise DatasetError(f"the rows have no column {name!r}, which the model reads")
    try:
        values = table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise DatasetError(f"column {name!r} is not numeric: {e}") from None
    missing = np.flatnonzero(np.isnan(values))
    if len(missing):
        raise DatasetError(f"row {int(missing[0]) + 1} has no value in column {name!r}")
    return values
