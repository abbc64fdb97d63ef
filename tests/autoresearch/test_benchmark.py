"""The benchmark's CPU-budget cut: the running best of a sweep stopped at N CPU-minutes."""

from __future__ import annotations

from benchmarks.autoresearch import within_cpu
from magnet_market.autoresearch import DEFAULTS, Record


def _record(i: int, status: str, metric: float, cpu_minutes: float) -> Record:
    return Record(
        id=i,
        parent=None,
        phase="lr",
        status=status,
        description="",
        config=DEFAULTS["tinylm"],
        metric=metric,
        cpu_seconds=60 * cpu_minutes,
    )


def test_the_best_within_the_budget_ignores_what_came_after() -> None:
    records = [
        _record(0, "keep", 2.6, 3.0),  # the baseline
        _record(1, "keep", 2.5, 20.0),
        _record(2, "discard", 2.55, 30.0),  # 53 minutes so far
        _record(3, "keep", 2.3, 10.0),  # would end at 63: past a 60-minute budget
    ]
    best, n, used = within_cpu(records, 60.0)
    assert (best.id, n, used) == (1, 3, 53.0)
    assert within_cpu(records, 63.0)[0].id == 3
    assert within_cpu(records, 1.0)[:2] == (records[0], 1)  # the baseline always counts
