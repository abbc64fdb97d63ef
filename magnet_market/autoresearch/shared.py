"""Other contributors' experiments as a search's prior knowledge (the swarm's shared memory).

A published ledger is the ``experiments.jsonl`` a contributor pinned with its round's checkpoint.
It is a stranger's file: :func:`read_shared_ledger` takes it only up to :data:`MAX_LEDGER_BYTES`,
keeps each row only if it is a well-formed decided experiment whose knobs lie inside this
search's space, and says why every other row was refused.

What is kept becomes prior observations (:func:`prior_trials`): an experiment that changed only
knobs of a phase tells that phase's sampler how much its change moved the metric, measured
against the best it was compared with, so the prior's value is this search's best moved by the
same amount. Priors measured on this search's own parent checkpoint are repeats: the sampler gets
their answer instead of running them again. Priors measured on an earlier parent inform the
sampler but may still be run: a change that helped the last round's model may not help this one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from magnet_market.autoresearch.config import Config
from magnet_market.autoresearch.ledger import Record
from magnet_market.autoresearch.space import Phase, SearchSpace, show

MAX_LEDGER_BYTES = 4 << 20  # a ledger row is about 1.5 KiB: thousands of experiments
MAX_ROWS = 5_000
_STATUSES = ("keep", "discard", "crash")


@dataclass(frozen=True, kw_only=True)
class SharedLedger:
    """The rows taken from one published ledger, and why the others were refused.

    ``same_parent``: its experiments trained from the parent this search trains from.
    """

    source: str  # who published it, for logs and proposers ("0xabc… in round 1")
    records: tuple[Record, ...]
    refused: tuple[str, ...] = ()
    same_parent: bool = False


@dataclass(frozen=True, kw_only=True)
class Prior:
    """One shared experiment as a phase's sampler hears it."""

    params: Config  # the phase's knobs as the experiment set them
    value: float  # this search's best metric moved by the experiment's measured gain
    same_parent: bool
    source: str


def read_shared_ledger(
    data: bytes, *, source: str, space: SearchSpace, same_parent: bool = False
) -> SharedLedger:
    """The well-formed rows of a published ledger; every other row refused with its reason."""
    if len(data) > MAX_LEDGER_BYTES:
        reason = f"ledger is {len(data)} bytes, over the {MAX_LEDGER_BYTES}-byte cap"
        return SharedLedger(source=source, records=(), refused=(reason,), same_parent=same_parent)
    try:
        lines = data.decode().splitlines()
    except UnicodeDecodeError as exc:
        reason = f"ledger is not UTF-8 ({exc.reason})"
        return SharedLedger(source=source, records=(), refused=(reason,), same_parent=same_parent)
    records, refused = [], []
    for number, line in enumerate(lines[:MAX_ROWS], start=1):
        record, reason = _row(line, space)
        if record is None:
            refused.append(f"row {number}: {reason}")
        else:
            records.append(record)
    if len(lines) > MAX_ROWS:
        refused.append(f"rows after {MAX_ROWS} ignored ({len(lines) - MAX_ROWS} more)")
    return SharedLedger(
        source=source, records=tuple(records), refused=tuple(refused), same_parent=same_parent
    )


def measured_changes(ledger: SharedLedger) -> Iterator[tuple[Record, float]]:
    """Each decided experiment of ``ledger`` that changed something, with how far its metric
    moved from the best it was compared with (in the metric's units, signed as measured)."""
    by_id = {r.id: r for r in ledger.records}
    for r in ledger.records:
        parent = by_id.get(r.parent) if r.parent is not None else None
        if r.status == "crash" or r.metric is None or not r.changes:
            continue
        if parent is not None and parent.metric is not None:
            yield r, r.metric - parent.metric


def prior_trials(ledgers: Iterable[SharedLedger], phase: Phase, best: Record) -> list[Prior]:
    """What the shared ledgers measured on ``phase``'s knobs alone, as this search's priors."""
    if best.metric is None:
        return []
    return [
        Prior(
            params={k: r.config[k] for k in phase.knobs},
            value=best.metric + moved,
            same_parent=ledger.same_parent,
            source=ledger.source,
        )
        for ledger in ledgers
        for r, moved in measured_changes(ledger)
        if set(r.changes) <= set(phase.knobs)
    ]


def _row(line: str, space: SearchSpace) -> tuple[Record | None, str]:
    """A ledger line as a record, or ``None`` and why it was refused."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(row, dict):
        return None, f"not a JSON object: {show(row)}"
    try:
        record = Record(**row)
    except TypeError as exc:
        return None, f"not a ledger row ({exc})"
    reason = _check(record, space)
    return (None, reason) if reason else (record, "")


def _check(r: Record, space: SearchSpace) -> str:
    """What is wrong with a parsed row, or ``""``."""
    if not _is_int(r.id) or r.id < 0 or not (r.parent is None or _is_int(r.parent)):
        return f"id {show(r.id)} or parent {show(r.parent)} is not an experiment number"
    if r.status not in _STATUSES:
        return f"status {show(r.status)} is not one of {list(_STATUSES)}"
    if not isinstance(r.phase, str) or not isinstance(r.description, str):
        return "phase and description must be text"
    if not isinstance(r.config, dict) or not isinstance(r.changes, dict):
        return "config and changes must be JSON objects"
    for key, value in r.changes.items():
        if key not in r.config or r.config[key] != value:
            return f"change {show(key)} is not in its configuration"
    for name, knob in space.knobs.items():
        if name not in r.config:
            return f"configuration has no {name}"
        if reason := knob.reject_reason(r.config[name]):
            return f"{name}: {reason}"
    if r.rung not in ("full", "proxy"):
        return f"rung {show(r.rung)} is not 'full' or 'proxy'"
    if r.status != "crash" and r.rung == "full" and not _finite(r.metric):
        return f"a {r.status} row needs a finite metric, got {show(r.metric)}"
    numbers = (r.runs, r.proxy_runs, r.proxy_parent_runs)
    if not all(isinstance(v, list) and all(_finite(x) for x in v) for v in numbers):
        return "runs must be finite numbers"
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
