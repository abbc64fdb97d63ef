"""Credit: a round's reward split in wei, in proportion to each submission's measured value.

Rules (the number each submission is scored by; non-accepted submissions score 0):

* ``improvement``: its own measured gain over the parent, ``max(0, improvement)``;
* ``leave_one_out``: how much worse the merged model is without it (its marginal value to the
  merge: ``max(0, metric(merge) vs metric(merge without i))``), which does not pay for work
  the merge did not need (e.g. two copies of the same update);
* ``improvement_else_leave_one_out``: ``improvement``, unless no contribution improved on the
  parent alone while their merge did: then ``leave_one_out``. Small-batch contributions are each
  noisier than the parent yet average into a better model (the market benchmark's first round:
  every contribution worse, the merge better), and ``improvement`` would pay nothing for it; the
  K extra merges are spent only in such rounds.

Scores become integers with the largest-remainder (Hamilton) method on exact rationals, so
credits sum exactly to the reward whenever any score is positive, and anyone re-running it gets
the same integers. If no score is positive nothing is credited (the reward stays in escrow).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from magnet_market.diloco.verify import Metric

CREDIT_RULES = ("improvement", "leave_one_out", "improvement_else_leave_one_out")


def largest_remainder(scores: Sequence[float], total: int) -> list[int]:
    """Split ``total`` wei in proportion to ``scores`` (>= 0); ties go to the earlier index."""
    if total < 0:
        raise ValueError(f"total must be >= 0 wei, got {total}")
    if any(s < 0 for s in scores):
        raise ValueError(f"scores must be >= 0 (clamp improvements first), got {list(scores)}")
    exact = [Fraction(s) for s in scores]  # floats are exact binary rationals: no rounding here
    denom = sum(exact)
    if denom == 0:
        return [0] * len(exact)
    quotas = [total * s / denom for s in exact]
    shares = [int(q) for q in quotas]  # floor (quotas are >= 0)
    left = total - sum(shares)
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def leave_one_out_scores(
    merged_metric: float, without_metrics: Sequence[float], metric: Metric
) -> list[float]:
    """Marginal value of each contribution: how much better the full merge is than one without."""
    return [max(0.0, metric.improvement(w, merged_metric)) for w in without_metrics]
