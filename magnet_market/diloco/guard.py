"""The merge guard: a round's merged model is not worse than the best contribution it merged.

DiLoCo's outer step (lr 0.7, Nesterov momentum 0.9) extrapolates past the contributions'
average. With many contributions late in training that is what makes it fast; with one
contribution, or early in training when the pseudo-gradients disagree, it overshoots, and the
merged model comes out worse than what was merged: a sponsor watches the market make its model
worse. The guard measures each step's result on the judged split and falls back, in order, to:

``outer``    the configured outer step;
``average``  lr 1 without momentum: the (robust, weighted) average of the contributions, the
             damped step; the momentum buffer restarts from this round's pseudo-gradient;
``best``     the best merged contribution alone (by its measured metric).

The first result that is not worse than the best merged contribution by more than the
tolerance (the rules' ``regression_tolerance``) is kept; ``best`` always is. Every attempt
goes into the round report, so anyone re-judging the round replays the same choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from magnet_market.diloco.aggregate import AggregationConfig
from magnet_market.diloco.outer import DilocoMerger, MergeResult, OuterConfig
from magnet_market.diloco.verify import Metric

DAMPED = OuterConfig(lr=1.0, momentum=0.0, nesterov=False)  # θ' = θ - g: the average itself


@dataclass(frozen=True)
class MergeStep:
    """One way to turn the round's accepted contributions into the next global checkpoint."""

    name: str
    outer: OuterConfig
    best_only: bool = False  # merge the best contribution alone

    def merge(
        self,
        aggregation: AggregationConfig,
        parent: str | Path,
        paths: Sequence[Path],
        weights: Sequence[float],
        scores: Sequence[float],
        out: Path,
        parent_cid: str = "",
    ) -> MergeResult:
        """Merge ``paths`` (``scores``: their improvements, higher is better) into ``out``."""
        if self.best_only:
            best = max(range(len(paths)), key=lambda i: (scores[i], -i))
            paths, weights = [paths[best]], [1.0]
        merger = DilocoMerger(self.outer, aggregation)
        return merger.merge(parent, paths, out, weights=weights, parent_cid=parent_cid)


def merge_steps(outer: OuterConfig, guard: bool) -> tuple[MergeStep, ...]:
    """The steps tried in order: the configured one, then (with the guard) the fallbacks."""
    first = MergeStep("outer", outer)
    if not guard:
        return (first,)
    return first, MergeStep("average", DAMPED), MergeStep("best", DAMPED, best_only=True)


def gains(measured: Sequence[float], metric: Metric) -> list[float]:
    """Measured metrics as scores where higher is better (what ``MergeStep.merge`` ranks)."""
    return [metric.improvement(0.0, m) for m in measured]


@dataclass(frozen=True)
class MergeAttempt:
    """One step the guard tried, what it measured, and whether it was kept."""

    step: str
    metric: float
    kept: bool


@dataclass(frozen=True)
class GuardedMerge:
    """The kept merge and the attempts that led to it."""

    path: Path
    metric: float
    step: MergeStep
    attempts: tuple[MergeAttempt, ...]


def guarded_merge(
    steps: Sequence[MergeStep],
    aggregation: AggregationConfig,
    parent: str | Path,
    paths: Sequence[Path],
    weights: Sequence[float],
    measured: Sequence[float],
    *,
    metric: Metric,
    tolerance: float,
    evaluate: Callable[[Path], float],
    out: Path,
    parent_cid: str = "",
) -> GuardedMerge:
    """Try ``steps`` in order and keep the first whose result, measured by ``evaluate``, is
    within ``tolerance`` of the best of ``measured`` (the merged contributions' metrics); the
    last step is kept whatever it measures."""
    scores = gains(measured, metric)
    best = measured[scores.index(max(scores))]
    attempts: list[MergeAttempt] = []
    for n, step in enumerate(steps):
        result = step.merge(aggregation, parent, paths, weights, scores, out, parent_cid)
        value = evaluate(result.path)
        kept = n == len(steps) - 1 or metric.improvement(best, value) >= -tolerance
        attempts.append(MergeAttempt(step.name, value, kept))
        if kept:
            return GuardedMerge(result.path, value, step, tuple(attempts))
    raise ValueError("guarded_merge needs at least one merge step")
