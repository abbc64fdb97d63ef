"""Autoresearch runs for the dashboard: the ledgers of the run folders under one directory.

Records are read with the ledger's own reader, read-only (``repair=False``): a torn last line
is a write in progress, and a viewer must never write into a run that may still be going.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from magnet_market.autoresearch.ledger import Ledger, Record
from magnet_market.dashboard.errors import NotFoundError


@dataclass(frozen=True)
class RunSummary:
    """One run folder at a glance."""

    name: str
    metric: str
    direction: str | None  # "minimize" | "maximize" when the run says so
    experiments: int
    kept: int
    crashed: int
    baseline: float | None
    best: float | None  # the last kept experiment's metric (the keep rule already beat noise)


@dataclass(frozen=True)
class RunView:
    """A run's summary and every decided experiment."""

    summary: RunSummary
    records: list[Record]

    @property
    def running_best(self) -> list[tuple[int, float]]:
        """``(experiment id, best so far)`` after each experiment, from the first kept one."""
        best, points = None, []
        for r in self.records:
            if r.status == "keep" and r.metric is not None:
                best = r.metric
            if best is not None:
                points.append((r.id, best))
        return points


class Runs:
    """The run folders directly under ``root`` that hold an ``experiments.jsonl``."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def names(self) -> list[str]:
        """Run folder names, sorted."""
        if self.root is None or not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/experiments.jsonl"))

    def summaries(self) -> list[RunSummary]:
        return [self.get(name).summary for name in self.names()]

    def get(self, name: str) -> RunView:
        """Run ``name``; only names listed by :meth:`names` exist (no paths from the URL)."""
        if name not in self.names():
            where = self.root if self.root else "no --runs folder given"
            raise NotFoundError(f"no autoresearch run {name!r} ({where})")
        assert self.root is not None
        folder = self.root / name
        records = Ledger(folder).records(repair=False)  # never write into a live run
        metric, direction = _metric_of(folder)
        scored = [r.metric for r in records if r.metric is not None]
        kept = [r.metric for r in records if r.status == "keep" and r.metric is not None]
        summary = RunSummary(
            name=name,
            metric=metric,
            direction=direction,
            experiments=len(records),
            kept=len(kept),
            crashed=sum(r.status == "crash" for r in records),
            baseline=scored[0] if scored else None,
            best=kept[-1] if kept else None,
        )
        return RunView(summary, records)


def _metric_of(folder: Path) -> tuple[str, str | None]:
    """Metric name and direction from the run's ``best_config.json`` (written as it goes)."""
    path = folder / "best_config.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return "metric", None
    return str(summary.get("metric", "metric")), summary.get("direction")
