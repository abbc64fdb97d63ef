"""The noise-aware keep rule.

Noise is measured, not assumed. The baseline runs with at least three seeds and every promising
candidate with ``n`` (2 by default); the spread of one configuration is the mean absolute
difference between its seed runs (for two runs, their range). The noise of the whole run is the
mean of all spreads measured so far, and at least ``min_improvement``: a single pair's range is
itself too noisy to gate on (on digits one lucky seed alone moved balanced accuracy by 0.017).

A candidate runs with the seeds the best ran with (a paired comparison: same initial weights,
same batch order), ``n`` runs in all, and is kept only when the mean of its runs beats the
best's mean over the same seeds by more than the noise (its own spread included) scaled to
``n`` runs. With ``n = 2`` (the default, for tasks whose runs are expensive) the first run
screens: if it is no better than the best's same-seed run, the candidate is discarded without
a re-run. With more seeds there is no screen: one run is exactly the noise they average out.

The scaling keeps the rule equally strict at any ``n``: with ``s`` the standard deviation of
one run, the spread estimates ``2s/√π`` and the difference of two means of ``n`` runs has a
standard deviation of ``s·√(2/n)``, so the level ``noise·√(2/n)`` is the same 1.13 standard
deviations for every ``n`` (at ``n = 2`` it is the noise itself). More seeds buy sensitivity,
not leniency: on a noise-bound task (digits' 360 validation images) a real +0.005 needs
``n ≈ 6`` to clear the bar.

With confirmation (``Settings.confirm``) a candidate that passed on the best's seeds runs again,
with the best beside it, on ``n`` fresh seeds, and :func:`confirm` keeps it when it is better on
the fresh seeds alone and its gain over both seed sets pooled beats the level scaled to ``2n``
runs. The fresh runs were not selected on, so a lucky candidate (the best of many tries on the
same seeds) falls back there. Asking for the full level twice instead would cost power: in a
simulation with normal run noise (``n = 6``, 400 000 candidates), a candidate that is really 1.5
standard errors better is kept 42 % of the time that way and 59 % of the time pooled (64 %
without confirmation), at a false-keep rate of 5.7 % for a candidate no better (13 % without
confirmation, 1.7 % twice). Its fresh runs, which score a keep, overstate it less too: the fresh
difference is biased by +0.32 standard errors for a real 1.0 (+0.88 when asked for twice).
"""

from __future__ import annotations

import itertools
import math
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


def noise(spreads: list[float], min_improvement: float, runs: int = 2) -> float:
    """The keep level: the mean measured spread scaled to means of ``runs`` seeds, at least
    ``min_improvement``."""
    measured = sum(spreads) / len(spreads) if spreads else 0.0
    return max(measured * math.sqrt(2 / runs), min_improvement)


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A keep decision with the numbers behind it."""

    keep: bool
    gain: float
    noise: float
    fresh_gain: float | None = None  # a confirmation's gain on the fresh seeds alone

    def explain(self) -> str:
        sign = ">" if self.gain > self.noise else "<="
        text = f"gain {self.gain:+.4g} {sign} noise {self.noise:.4g}"
        if self.fresh_gain is None:
            return text
        return f"pooled {text}, fresh gain {self.fresh_gain:+.4g}"


def screen(first: float, best_first: float, direction: Direction) -> Verdict:
    """Is the first run worth a re-run? Better than the best's run of the same seed."""
    gain = improvement(first, best_first, direction)
    return Verdict(keep=gain > 0, gain=gain, noise=0.0)


def decide(
    runs: list[float], best_runs: list[float], direction: Direction, level: float
) -> Verdict:
    """Keep when the mean of ``runs`` beats the best's mean over the same seeds by ``level``."""
    paired = best_runs[: len(runs)]
    gain = improvement(sum(runs) / len(runs), sum(paired) / len(paired), direction)
    return Verdict(keep=gain > level, gain=gain, noise=level)


def confirm(
    screened: list[float],
    best_screened: list[float],
    fresh: list[float],
    best_fresh: list[float],
    direction: Direction,
    level: float,
) -> Verdict:
    """Keep a candidate that passed on the best's seeds (``screened``) when, run again with the
    best on fresh seeds, it is better there too and its gain over both seed sets pooled beats
    ``level`` (the noise scaled to the pooled number of runs)."""
    again = decide(fresh, best_fresh, direction, 0.0)
    pooled = decide(
        [*screened, *fresh], [*best_screened[: len(screened)], *best_fresh], direction, level
    )
    return Verdict(
        keep=again.keep and pooled.keep, gain=pooled.gain, noise=level, fresh_gain=again.gain
    )
