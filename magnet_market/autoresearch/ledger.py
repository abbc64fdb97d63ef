"""The ledger: one record per experiment, append-only, and the ``results.tsv`` view of it.

``experiments.jsonl`` is the source of truth (full configuration, per-seed metrics, curve), one
line per decided experiment, flushed and fsynced before the loop moves on, so a killed run
resumes from exactly the experiments it finished. ``results.tsv`` is rewritten from it after each
append (atomically): id, parent, metric, memory (peak MiB), seconds, status, description, the
grep-able table of karpathy/autoresearch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from magnet_market._atomic import write_atomic
from magnet_market.autoresearch.config import Config
from magnet_market.autoresearch.keep import spread

log = logging.getLogger(__name__)

Status = Literal["keep", "discard", "crash"]
TSV_COLUMNS = ("id", "parent", "metric", "memory", "seconds", "status", "description")


@dataclass(frozen=True, kw_only=True)
class Record:
    """One decided experiment.

    ``metric`` is the mean over ``runs`` (one metric per seed run, the seeds in ``seeds``);
    ``spread`` is their mean pairwise difference. A candidate that went to confirmation on fresh
    seeds has the previous best's runs on them in ``parent_runs``. Kept, it has its fresh-seed
    runs in ``runs`` (nothing was selected on them) and the runs it was selected on in
    ``screen_runs``; discarded, all of them in ``runs``, the fresh ones last. With the
    promotion ladder, a candidate first runs at the proxy budget (``proxy_runs``) beside the
    best's proxy runs (``proxy_parent_runs``); only one that beats the proxy noise runs at
    the full budget (``rung`` says where it was decided).
    """

    id: int
    parent: int | None
    phase: str
    status: Status
    description: str
    config: Config
    changes: Config = field(default_factory=dict)
    metric: float | None = None
    runs: list[float] = field(default_factory=list)
    spread: float | None = None
    curve: list[float] = field(default_factory=list)  # intermediate metrics of the first run
    memory_mb: float | None = None
    seconds: float = 0.0
    cpu_seconds: float | None = None  # CPU time of all its runs (None: a crash with no report)
    seeds: list[int] = field(default_factory=list)  # empty in ledgers from before: s, s+1, ...
    screen_runs: list[float] = field(default_factory=list)
    parent_runs: list[float] = field(default_factory=list)
    # the promotion ladder (``Settings.proxy``): the candidate's proxy run and the best's proxy
    # runs it was screened against; ``rung`` is where it was decided ("proxy": it did not beat
    # the noise there and never ran at the full budget)
    rung: str = "full"
    proxy_runs: list[float] = field(default_factory=list)
    proxy_parent_runs: list[float] = field(default_factory=list)

    def tsv_row(self) -> str:
        cells = (
            str(self.id),
            "" if self.parent is None else str(self.parent),
            "" if self.metric is None else f"{self.metric:.6f}",
            "" if self.memory_mb is None else f"{self.memory_mb:.1f}",
            f"{self.seconds:.1f}",
            self.status,
            " ".join(self.description.split()),  # no tabs or newlines inside a cell
        )
        return "\t".join(cells)


def measured_spreads(records: list[Record]) -> list[float]:
    """Every run-to-run spread the records measured, one per set of seed runs.

    The best's runs on a confirmation's fresh seeds are run once and then reused by each later
    confirmation against the same best (``parent_runs``): they count once, or that one
    configuration's spread would weigh as often as it was confirmed against.
    """
    out, confirmed_against = [], set()
    for r in records:
        sets = [r.runs, r.screen_runs]
        if r.parent_runs and r.parent not in confirmed_against:
            confirmed_against.add(r.parent)
            sets.append(r.parent_runs)
        out += [spread(runs) for runs in sets if len(runs) > 1]
    return out


class Ledger:
    """The records of one run folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.jsonl = self.directory / "experiments.jsonl"
        self.tsv = self.directory / "results.tsv"

    def records(self, repair: bool = True) -> list[Record]:
        """All decided experiments; a torn last line (killed mid-write) is dropped.

        ``repair`` also removes that line from the file, as the run's owner does before
        appending; a reader of a run that may still be going (the dashboard) passes ``False``.
        """
        if not self.jsonl.exists():
            return []
        lines = self.jsonl.read_text().splitlines()
        out = []
        for i, line in enumerate(lines):
            try:
                out.append(Record(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                if i != len(lines) - 1:
                    raise
                if repair:
                    log.warning("dropping a torn last ledger line (the run was killed mid-write)")
                    write_atomic(self.jsonl, "".join(line + "\n" for line in lines[:-1]))
        return out

    def append(self, record: Record) -> None:
        """Persist ``record`` (fsynced) and refresh ``results.tsv``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.jsonl.open("a") as f:
            f.write(json.dumps(dataclasses.asdict(record), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.write_tsv(self.records())

    def write_tsv(self, records: list[Record]) -> None:
        lines = ["\t".join(TSV_COLUMNS)] + [r.tsv_row() for r in records]
        write_atomic(self.tsv, "\n".join(lines) + "\n")
