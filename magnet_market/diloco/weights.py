"""Merge weights of accepted submissions: equal, by verified work, or by measured improvement.

``work`` is the metadata's inner steps x batch (x sequence length for language models), which
verification has checked against the reveal and the task's step bound. ``improvement`` uses the
measured gain over the parent; when nobody improved, it falls back to equal weights so a round
of honest but unlucky work still moves the model. A zero weight means "not merged".
"""

from __future__ import annotations

from collections.abc import Sequence

from magnet_market.diloco.verify import Verdict

WEIGHTINGS = ("equal", "work", "improvement")


def merge_weights(accepted: Sequence[Verdict], scheme: str) -> list[float]:
    """One non-negative weight per accepted verdict (same order), summing to 1 unless empty."""
    if scheme not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {scheme!r}")
    if not accepted:
        return []
    if scheme == "work":
        raw = [float(v.work or 0) for v in accepted]
    elif scheme == "improvement":
        raw = [max(0.0, v.improvement or 0.0) for v in accepted]
    else:
        raw = [1.0] * len(accepted)
    total = sum(raw)
    if total <= 0:
        return [1.0 / len(accepted)] * len(accepted)
    return [r / total for r in raw]
