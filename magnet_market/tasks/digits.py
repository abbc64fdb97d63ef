"""The ``digits`` task: scikit-learn's bundled 8x8 handwritten digits (no download).

Features are pixel intensities scaled to [0, 1]; the split is stratified with a fixed seed.
Metric: balanced accuracy on the held-out split (mean per-class recall).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from torch import nn

N_FEATURES = 64
N_CLASSES = 10


@dataclass
class DigitsData:
    """Train/validation tensors of the digits data set.

    Args:
        val_fraction: share held out, stratified by class.
        split_seed: seed of the split (fixed per task so every party sees the same split).
    """

    val_fraction: float = 0.2
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        ds = load_digits()
        x = (ds.data / 16.0).astype(np.float32)  # pixels are 0..16
        y = ds.target.astype(np.int64)
        xtr, xva, ytr, yva = train_test_split(
            x, y, test_size=self.val_fraction, random_state=self.split_seed, stratify=y
        )
        self.train_x, self.train_y = torch.from_numpy(xtr), torch.from_numpy(ytr)
        self.val_x, self.val_y = torch.from_numpy(xva), torch.from_numpy(yva)

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random rows: ``x (B, 64)`` float32, ``y (B,)`` int64."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        x, y = (self.train_x, self.train_y) if split == "train" else (self.val_x, self.val_y)
        ix = torch.randint(0, x.shape[0], (batch_size,), generator=generator)
        return x[ix], y[ix]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation loss and balanced accuracy on the whole held-out split."""
        was_training = model.training
        model.eval()
        logits, loss = model(self.val_x, self.val_y)
        model.train(was_training)
        pred = logits.argmax(dim=-1).numpy()
        return {
            "val_loss": float(loss),
            "balanced_accuracy": float(balanced_accuracy_score(self.val_y.numpy(), pred)),
        }
