"""The noise-aware keep rule.

Noise is measured, not assumed. The baseline runs with three seeds and every promising candidate
with two; the spread of one configuration is the mean absolute difference between its seed runs
(for two runs, their range). The noise of the whole run is the mean of all spreads measured so
far, and at least ``min_improvement``: a single pair's range is itself too noisy to gate on (on
digits one lucky seed alone moved balanced accuracy by 0.017).

A candidate first runs with the seed the best first ran with (a paired comparison: same initial
weights, same batch order); if that is no better than the best's same-seed run it is discarded
without a re-run. Otherwise it is re-run with the next seed, which also measures its spread, and
kept only when the mean of its runs beats the best's mean over the same seeds by more than the
noise (its own spread included).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

Direction = Literal["minimize", "maximize"]


def improvement(new: float, old: float, direction: Direction) -> float:
    """How much better ``new`` is than ``old`` (negative: worse)."""
    return old - new if direction == "minimize" else new - old


def spread(runs: list[float]) -> float:
    """Run-to-run spread of one configuration: mean absolute difference over pairs of seeds."""
    pairs = list(itertools.combinations(runs, 2))
    return sum(abs(a - b) for a, b in pairs) / len(pairs)


def noise(spreads: list[float], min_improvement: float) -> float:
    """The run's noise: the mean measured spread, at least ``min_improvement``."""
    measured = sum(spreads) / len(spreads) if spreads else 0.0
    return max(measured, min_improvement)


@dataclass(frozen=True)
class Verdict:
    """A keep decision with the numbers behind it."""

    keep: bool
    gain: float
    noise: float

    def explain(self) -> str:
        sign = ">" if self.keep else "<="
        return f"gain {self.gain:+.4g} {sign} noise {self.noise:.4g}"


def screen(first: float, best_first: float, direction: Direction) -> Verdict:
    """Is the first run worth a re-run? Better than the best's run of the same seed."""
    gain = improvement(first, best_first, direction)
    return Verdict(gain > 0, gain, 0.0)


def decide(
    runs: list[float], best_runs: list[float], direction: Direction, level: float
) -> Verdict:
    """Keep when the mean of ``runs`` beats the best's mean over the same seeds by ``level``."""
    paired = best_runs[: len(runs)]
    gain = improvement(sum(runs) / len(runs), sum(paired) / len(paired), direction)
    return Verdict(gain > level, gain, level)
