"""The ``series`` task: next-week direction of the Mauna Loa CO2 record (bundled with statsmodels).

A real series with a real, imperfect signal: weekly CO2 at Mauna Loa, 1958-2001 (2284 weeks),
rises with a yearly cycle, but the week-to-week change is noisy (52 % of weeks go up, a
logistic regression on the last year calls about 3 of 4 weeks right). Metric: hit rate, the
share of correct up/down calls. The split is by time, oldest first: train, then validation (what
a sweep scores on), then a test part no sweep sees (``holdout="test"``); every example only
looks at weeks before the one it calls.

Features of week ``t``: the last ``window`` weekly changes (divided by their standard deviation
on the train part) and the time of year (sine and cosine). Label: 1 when week ``t + 1`` is above
week ``t``. Missing weeks (59) are interpolated for the inputs but never called: an example
needs both weeks observed and different.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

WINDOW = 52  # past weekly changes per example: one year
N_FEATURES = WINDOW + 2  # with the time of year (sine, cosine), at the default window
N_CLASSES = 2  # 0: down, 1: up


@dataclass
class SeriesData:
    """Train and held-out tensors of the weekly CO2 direction task.

    Args:
        window: past weekly changes per example.
        val_fraction: share of the examples, after the train part, that a sweep scores on.
        test_fraction: share at the end that only the final figure sees.
        holdout: which held-out part ``evaluate`` and the ``val`` batches use.
    """

    window: int = WINDOW
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    holdout: Literal["val", "test"] = "val"

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        fractions = (self.val_fraction, self.test_fraction)
        if min(fractions) <= 0 or sum(fractions) >= 1:
            raise ValueError("val_fraction and test_fraction must be > 0 and sum to < 1")
        if self.holdout not in ("val", "test"):
            raise ValueError(f"holdout must be 'val' or 'test', got {self.holdout!r}")
        # imported here: statsmodels takes seconds to import and every command loads this module
        from statsmodels.datasets import co2

        level = co2.load_pandas().data["co2"]
        observed = level.notna().to_numpy()
        x = level.interpolate(method="linear", limit_direction="both").to_numpy()
        change = np.diff(x, prepend=x[0])
        angle = 2 * np.pi * np.asarray(level.index.day_of_year) / 365.25
        t = np.array(
            [
                i
                for i in range(self.window, len(x) - 1)
                if observed[i] and observed[i + 1] and x[i + 1] != x[i]
            ]
        )
        windows = np.stack([change[i - self.window + 1 : i + 1] for i in t])
        n = len(t)
        a = int(n * (1 - self.val_fraction - self.test_fraction))
        b = int(n * (1 - self.test_fraction))
        self.scale = float(change[: t[a - 1] + 1].std())  # the train part's weeks only
        features = np.hstack(
            [windows / self.scale, np.sin(angle[t])[:, None], np.cos(angle[t])[:, None]]
        )
        labels = (x[t + 1] > x[t]).astype(np.int64)
        self.n_features = features.shape[1]
        self.weeks = level.index[t]  # the week each example calls from
        self.split_index = {"train": (0, a), "val": (a, b), "test": (b, n)}
        self._x = torch.from_numpy(features.astype(np.float32))
        self._y = torch.from_numpy(labels)

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and labels of ``train``, ``val`` or ``test``, in time order."""
        lo, hi = self.split_index[name]
        return self._x[lo:hi], self._y[lo:hi]

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random examples: ``x (B, window + 2)`` float32, ``y (B,)`` int64 (``val``: holdout)."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        x, y = self.part("train" if split == "train" else self.holdout)
        ix = torch.randint(0, x.shape[0], (batch_size,), generator=generator)
        return x[ix], y[ix]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Loss and hit rate (share of correct up/down calls) on the whole held-out part."""
        x, y = self.part(self.holdout)
        was_training = model.training
        model.eval()
        logits, loss = model(x, y)
        model.train(was_training)
        hits = (logits.argmax(dim=-1) == y).float().mean()
        return {"val_loss": float(loss), "hit_rate": float(hits)}
