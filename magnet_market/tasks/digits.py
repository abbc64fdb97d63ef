"""The ``digits`` task: scikit-learn's bundled 8x8 handwritten digits (no download).

Features are pixel intensities scaled to [0, 1]; the split is stratified with a fixed seed.
Metric: balanced accuracy on the held-out split (mean per-class recall). Augmentation: a digit
shifted by one pixel is the same digit (the writers' strokes sit anywhere in the 8x8 box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from magnet_market.tasks.rows import ClassifiedRows

N_FEATURES = 64
N_CLASSES = 10
SIDE = 8
# the nine offsets (dy, dx) of a shift by at most one pixel, (0, 0) included
_SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


@dataclass
class DigitsData(ClassifiedRows):
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
        # imported here: scikit-learn takes seconds to import and every command loads this module
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        ds = load_digits()
        x = (ds.data / 16.0).astype(np.float32)  # pixels are 0..16
        y = ds.target.astype(np.int64)
        xtr, xva, ytr, yva = train_test_split(
            x, y, test_size=self.val_fraction, random_state=self.split_seed, stratify=y
        )
        self.train_x, self.train_y = torch.from_numpy(xtr), torch.from_numpy(ytr)
        self.val_x, self.val_y = torch.from_numpy(xva), torch.from_numpy(yva)

    def augment(self, x: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
        """``x`` with a random ``share`` of its rows shifted by up to one pixel each way.

        A chosen row moves by one of the nine offsets of at most one pixel (uniformly, no move
        included); pixels shifted in from outside the image are blank (0).
        """
        n = x.shape[0]
        padded = F.pad(x.view(n, SIDE, SIDE), (1, 1, 1, 1))
        shifted = torch.stack(
            [padded[:, 1 + dy : 1 + dy + SIDE, 1 + dx : 1 + dx + SIDE] for dy, dx in _SHIFTS], 1
        ).reshape(n, len(_SHIFTS), N_FEATURES)
        offset = torch.randint(0, len(_SHIFTS), (n,), generator=generator)
        chosen = torch.rand(n, generator=generator) < share
        moved = shifted[torch.arange(n), offset]
        return torch.where(chosen.unsqueeze(1), moved, x)
