"""What a contributor takes from the rest of the market before its round's search (the swarm).

* **Where it starts.** Round r's search starts from the recipe of the accepted contribution that
  improved most in the last round that had one (each round report names it, ``RoundReport.recipe``),
  not from the spec's default. Contributors spread over the starts: the one at place 0 (in join
  order) takes the winner's recipe as it is; the next ones take it with one other improving
  contribution's ideas (the changes its own search made) applied, best first, then the other
  improving contributions' own recipes: the round tries the last round's ideas together, and
  each place measures another start instead of K copies of one baseline.
* **Where it searches.** Each place starts at another phase of the plan
  (:func:`~magnet_market.tuning.swarm_offset`).
* **What it knows.** The experiment ledgers that accepted contributions of earlier rounds
  published (listed in the reports, fetched by CID, size-capped, each row checked) become its
  samplers' priors (``autoresearch/shared.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from magnet_market.app.reports import ReportError, load_round
from magnet_market.autoresearch.config import Config, describe
from magnet_market.autoresearch.shared import (
    MAX_LEDGER_BYTES,
    SharedLedger,
    measured_changes,
    read_shared_ledger,
)
from magnet_market.chain.events import EventReader
from magnet_market.diloco.ideas import Idea, first_published
from magnet_market.storage import ContentStore, StorageError
from magnet_market.tasks.spec import TaskSpec
from magnet_market.tuning import carried_recipe


@dataclass(frozen=True)
class RoundStart:
    """Where a round's search starts: a carried-over recipe (``None``: the spec's default),
    where it came from, and why a published one was not taken (``""`` when nothing was
    refused)."""

    config: Config | None
    source: str
    refused: str = ""


def swarm_place(reader: EventReader, task_id: int, address: str) -> int:
    """``address``'s place among the task's contributors, in the order they joined."""
    joined = [e["args"]["contributor"] for e in reader.get("ContributorJoined", taskId=task_id)]
    lowered = [a.lower() for a in joined]
    return lowered.index(address.lower()) if address.lower() in lowered else len(joined)


@dataclass(frozen=True)
class EarlierRound:
    """A posted round's pinned report as the swarm reads it (``None``, and why, if it could
    not be read)."""

    round: int
    report: Mapping[str, Any] | None
    error: str = ""


def earlier_reports(
    store: ContentStore, reader: EventReader, task_id: int, round_: int
) -> list[EarlierRound]:
    """The reports of the rounds before ``round_``, read once for everything the swarm takes
    from them."""
    out = []
    for earlier in range(round_):
        try:
            out.append(EarlierRound(earlier, load_round(store, reader, task_id, earlier).report))
        except (ReportError, StorageError) as exc:
            out.append(EarlierRound(earlier, None, str(exc)))
    return out


def round_start(
    spec: TaskSpec,
    reports: Sequence[EarlierRound],
    place: int = 0,
    shared: Sequence[SharedLedger] = (),
) -> RoundStart:
    """The recipe the contributor at ``place`` starts its round from: the latest winning
    recipe the earlier ``reports`` name, for places past the first with an idea of that round
    applied (then another contribution's recipe, then a change the ``shared`` ledgers measured
    as a gain but did not keep), checked against the task
    (:func:`~magnet_market.tuning.carried_recipe`)."""
    for earlier in reversed(reports):
        report = earlier.report
        if report is None:
            why = f"round {earlier.round}'s report is unreadable: {earlier.error}"
            return RoundStart(None, "spec", why)
        if report.get("recipe") is None:
            continue
        winner = f"round {earlier.round}'s winner {report.get('recipe_author')}"
        try:
            recipe = carried_recipe(spec, report["recipe"])
        except ValueError as exc:
            return RoundStart(None, "spec", f"refused {winner}'s recipe: {exc}")
        starts = [RoundStart(recipe, winner), *_other_starts(spec, report, recipe, earlier.round)]
        if place >= len(starts):
            starts += _near_misses(spec, recipe, winner, shared, [s.config for s in starts])
        return starts[place % len(starts)]
    return RoundStart(None, "spec")


def _other_starts(
    spec: TaskSpec, report: Mapping[str, Any], recipe: Config, round_: int
) -> list[RoundStart]:
    """The starts past the first, best first: the winning recipe with each other improving
    contribution's ideas applied, then those contributions' own recipes (each only once, and
    only if this task could keep it)."""
    winner = f"round {round_}'s winner {report.get('recipe_author')}"

    def gain(s: Mapping[str, Any]) -> float:
        return credited_gain(report, s)

    others = sorted(
        (
            s
            for s in report.get("submissions", [])
            if s.get("status") == "accepted"
            and gain(s) > 0
            and s.get("author") != report.get("recipe_author")
        ),
        key=lambda s: -gain(s),
    )
    candidates = [
        (
            {**recipe, **s["recipe_changes"]},
            f"{winner} with {s['author']}'s {describe(s['recipe_changes'])}",
        )
        for s in others
        if isinstance(s.get("recipe_changes"), dict) and s["recipe_changes"]
    ] + [
        (s["recipe"], f"the recipe of round {round_}'s {s['author']}")
        for s in others
        if isinstance(s.get("recipe"), dict)
    ]
    seen, out = [recipe], []
    for config, source in candidates:
        try:
            checked = carried_recipe(spec, config)
        except ValueError:
            continue
        if checked not in seen:
            seen.append(checked)
            out.append(RoundStart(checked, source))
    return out


def _near_misses(
    spec: TaskSpec,
    recipe: Config,
    winner: str,
    shared: Sequence[SharedLedger],
    taken: list[Config | None],
) -> list[RoundStart]:
    """The winning recipe with each change a shared ledger measured better than its best but
    did not keep (its gain within that search's noise), largest gain first: another look on a
    new parent for the ideas that nearly made it."""
    sign = -1.0 if spec.lower_is_better else 1.0
    found = [
        (sign * moved, ledger.source, r.changes)
        for ledger in shared
        for r, moved in measured_changes(ledger)
        if r.status == "discard" and sign * moved > 0
    ]
    out = []
    for _, source, changes in sorted(found, key=lambda f: -f[0]):
        try:
            config = carried_recipe(spec, {**recipe, **changes})
        except ValueError:
            continue
        if config not in taken:
            taken.append(config)
            out.append(
                RoundStart(config, f"{winner} with {source}'s near miss {describe(changes)}")
            )
    return out


def shared_ledgers(
    store: ContentStore, spec: TaskSpec, reports: Sequence[EarlierRound], parent: str
) -> list[SharedLedger]:
    """The experiment ledgers accepted contributions published in the earlier ``reports``,
    each fetched by its CID (verified, at most ``MAX_LEDGER_BYTES``) and read row by row
    against the task's search space; an unreadable one is a ledger with its reason."""
    space = spec.search_space()
    out = []
    for earlier in reports:
        if earlier.report is None:
            out.append(_unread(f"round {earlier.round}'s report", f"unreadable: {earlier.error}"))
            continue
        same_parent = earlier.report.get("parent_cid") == parent
        for s in earlier.report.get("submissions", []):
            cid = s.get("ledger_cid")
            if s.get("status") != "accepted" or not cid:
                continue
            source = f"{s.get('author')} in round {earlier.round}"
            try:
                data = _fetch_capped(store, cid)
            except (StorageError, ValueError) as exc:
                out.append(_unread(source, f"ledger {cid}: {exc}"))
                continue
            out.append(
                read_shared_ledger(data, source=source, space=space, same_parent=same_parent)
            )
    return out


def credited_gain(report: Mapping[str, Any], line: Mapping[str, Any]) -> float:
    """A report line's improvement on the split its round was credited on (0 if none)."""
    on_holdout = report.get("credited_on", "val") != "val"
    gain = line.get("holdout_improvement" if on_holdout else "improvement")
    return float(gain) if isinstance(gain, int | float) else 0.0


def published_ideas(
    store: ContentStore, reader: EventReader, spec: TaskSpec, task_id: int, round_: int
) -> list[Idea]:
    """The ideas published before round ``round_``: in the earlier reports, the changes of
    each accepted contribution that improved (squatting on a value takes work that helped)
    setting some knob away from the spec's recipe, each credited to its first publisher.

    A malformed report publishes none: every judge reads the same pinned bytes, so every judge
    leaves out the same ones. A report that cannot be fetched is an error
    (:class:`~magnet_market.storage.StorageError`): judging without it would credit otherwise.
    """
    default = spec.default_recipe()
    ideas = []
    for earlier in range(round_):
        try:
            report = load_round(store, reader, task_id, earlier).report
        except ReportError:
            continue
        for s in report.get("submissions", []):
            changes = s.get("recipe_changes")
            if (
                s.get("status") == "accepted"
                and credited_gain(report, s) > 0
                and isinstance(changes, dict)
                and any(default.get(k) != v for k, v in changes.items())
            ):
                ideas.append(Idea(str(s.get("author")), earlier, changes))
    return first_published(ideas)


@dataclass(frozen=True)
class TriedLine:
    """One experiment of a published ledger, as the dashboard lists who tried what."""

    phase: str
    changes: str
    status: str
    metric: float | None


def tried(store: ContentStore, cid: str, limit: int = 100) -> list[TriedLine] | str:
    """The experiments of the ledger ``cid`` (the first ``limit``; rows that are not ledger
    rows skipped), or why it cannot be read."""
    try:
        lines = _fetch_capped(store, cid).decode().splitlines()
    except (StorageError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        return f"ledger {cid}: {exc}"
    out = []
    for line in lines[:limit]:
        try:
            row = json.loads(line)
            changes = row.get("changes") or {}
            metric = row.get("metric")
            out.append(
                TriedLine(
                    phase=str(row["phase"])[:64],
                    changes=describe(changes)[:200] if isinstance(changes, dict) else "?",
                    status=str(row["status"])[:16],
                    metric=float(metric) if isinstance(metric, int | float) else None,
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
    return out


def _fetch_capped(store: ContentStore, cid: str) -> bytes:
    """The bytes of ``cid`` (verified as they stream), refused past ``MAX_LEDGER_BYTES``."""
    chunks, size = [], 0
    for chunk in store.open(cid):
        size += len(chunk)
        if size > MAX_LEDGER_BYTES:
            raise ValueError(f"over the {MAX_LEDGER_BYTES}-byte cap of a ledger")
        chunks.append(chunk)
    return b"".join(chunks)


def _unread(source: str, reason: str) -> SharedLedger:
    return SharedLedger(source=source, records=(), refused=(reason,))
