"""Aggregation of pseudo-gradients: weighted mean, and robust options for untrusted inputs.

Contributors are strangers, so one of them may send a huge or random update. Two defences,
applied in this order (after Karimireddy et al., "Learning from History for Byzantine Robust
Optimization", arXiv:2012.10333, and Yin et al., "Byzantine-Robust Distributed Learning",
arXiv:1803.01498):

* norm clipping: each pseudo-gradient is scaled down to at most ``clip_multiple`` x the median
  norm of the round (adaptive, so no per-task threshold to calibrate);
* coordinate-wise trimmed mean (drop the ``floor(trim_fraction * K)`` lowest and highest values
  of every coordinate, weighted mean of the rest) or coordinate-wise median.

Default: clip at 2x the median norm, then a trimmed mean dropping 25 % on each side. With K <= 3
inputs nothing is trimmed (the clip still applies); the median ignores weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

METHODS = ("mean", "trimmed_mean", "median")


@dataclass(frozen=True)
class AggregationConfig:
    """How the round's pseudo-gradients become one update."""

    method: str = "trimmed_mean"  # "mean" | "trimmed_mean" | "median"
    trim_fraction: float = 0.25  # per side; K=4 drops the lowest and highest value per coordinate
    clip_multiple: float | None = 2.0  # clip norms to this x the median norm; None: no clipping

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not 0.0 <= self.trim_fraction < 0.5:
            raise ValueError(f"trim_fraction must be in [0, 0.5), got {self.trim_fraction}")
        if self.clip_multiple is not None and self.clip_multiple <= 0:
            raise ValueError(
                f"clip_multiple must be > 0 (or None to disable), got {self.clip_multiple}"
            )


def clip_scales(norms: list[float], clip_multiple: float | None) -> list[float]:
    """Factor (<= 1) for each pseudo-gradient so its norm is at most ``clip_multiple`` x median."""
    if clip_multiple is None or not norms:
        return [1.0] * len(norms)
    bound = clip_multiple * float(torch.tensor(norms, dtype=torch.float64).median())
    # torch's median of an even count is the lower middle value: the bound cannot be set by the
    # larger half, which is where an attacker's norm sits.
    return [1.0 if n <= bound or n == 0 else bound / n for n in norms]


def aggregate(stack: torch.Tensor, weights: torch.Tensor, cfg: AggregationConfig) -> torch.Tensor:
    """Combine ``stack (K, ...)`` of one tensor's pseudo-gradients into one ``(...)`` tensor.

    Args:
        stack: the K contributors' (already clipped) pseudo-gradients of one tensor.
        weights: ``(K,)`` positive weights (normalization is done here).
        cfg: method and trim fraction.
    """
    K = stack.shape[0]
    if weights.shape != (K,) or bool((weights <= 0).any()):
        raise ValueError(f"need {K} positive weights, got {weights.tolist()}")
    w = weights.to(stack.dtype).view(K, *([1] * (stack.dim() - 1)))  # (K, 1, ...)
    if cfg.method == "mean":
        return _rows_sum(stack * w) / _rows_sum(w)
    if cfg.method == "median":
        s = stack.sort(dim=0).values
        return s[(K - 1) // 2] if K % 2 else (s[K // 2 - 1] + s[K // 2]) / 2
    k = math.floor(cfg.trim_fraction * K)
    if k == 0:
        return _rows_sum(stack * w) / _rows_sum(w)
    s, idx = stack.sort(dim=0)  # (K, ...)
    kept_w = w.expand_as(stack).gather(0, idx)[k : K - k]  # weights follow their values
    return _rows_sum(s[k : K - k] * kept_w) / _rows_sum(kept_w)


def _rows_sum(x: torch.Tensor) -> torch.Tensor:
    """``x.sum(0)`` added row after row: one order on every CPU (torch's reduction kernels
    order the adds by SIMD width), so every judge's merge writes the same bytes."""
    total = x[0]
    for row in x[1:]:
        total = total + row
    return total
