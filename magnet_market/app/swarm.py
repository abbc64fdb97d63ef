"""What a contributor takes from the rest of the market before its round's search (the swarm).

* **Where it starts.** Round r's search starts from the recipe of the accepted contribution that
  improved most in the last round that had one (each round report names it, ``RoundReport.recipe``),
  not from the spec's default. Contributors spread over the starts: the one at place 0 (in join
  order) takes the winner's recipe as it is; the next ones take it with one other improving
  contribution's ideas (the changes its own search made) applied, best first, so the round tries
  the ideas of the last round together instead of K copies of one start.
* **Where it searches.** Each place starts at another phase of the plan
  (:func:`~magnet_market.tuning.swarm_offset`).
* **What it knows.** The experiment ledgers that accepted contributions of earlier rounds
  published (listed in the reports, fetched by CID, size-capped, each row checked) become its
  samplers' priors (``autoresearch/shared.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from magnet_market.app.reports import ReportError, load_round
from magnet_market.autoresearch.config import Config, describe
from magnet_market.autoresearch.shared import MAX_LEDGER_BYTES, SharedLedger, read_shared_ledger
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


def round_start(
    store: ContentStore,
    reader: EventReader,
    spec: TaskSpec,
    task_id: int,
    round_: int,
    place: int = 0,
) -> RoundStart:
    """The recipe the contributor at ``place`` starts round ``round_`` from: the latest winning
    recipe a report names, with an idea of the same round applied for places past the first,
    checked against the task (:func:`~magnet_market.tuning.carried_recipe`)."""
    for earlier in range(round_ - 1, -1, -1):
        try:
            report = load_round(store, reader, task_id, earlier).report
        except (ReportError, StorageError) as exc:
            return RoundStart(None, "spec", f"round {earlier}'s report is unreadable: {exc}")
        if report.get("recipe") is None:
            continue
        winner = f"round {earlier}'s winner {report.get('recipe_author')}"
        try:
            recipe = carried_recipe(spec, report["recipe"])
        except ValueError as exc:
            return RoundStart(None, "spec", f"refused {winner}'s recipe: {exc}")
        starts = [RoundStart(recipe, winner), *_with_ideas(spec, report, recipe, winner)]
        return starts[place % len(starts)]
    return RoundStart(None, "spec")


def _with_ideas(
    spec: TaskSpec, report: Mapping[str, Any], recipe: Config, winner: str
) -> list[RoundStart]:
    """The winning recipe with each other improving contribution's ideas applied, best first
    (the ones that are no change, or not a recipe this task could keep, left out)."""
    on_holdout = report.get("credited_on", "val") != "val"
    ranked = sorted(
        (s for s in report.get("submissions", []) if s.get("status") == "accepted"),
        key=lambda s: -(s.get("holdout_improvement" if on_holdout else "improvement") or 0.0),
    )
    seen, out = [recipe], []
    for s in ranked:
        gain = s.get("holdout_improvement" if on_holdout else "improvement") or 0.0
        ideas = s.get("recipe_changes") or {}
        if gain <= 0 or s.get("author") == report.get("recipe_author") or not ideas:
            continue
        try:
            mixed = carried_recipe(spec, {**recipe, **ideas})
        except ValueError:
            continue
        if mixed not in seen:
            seen.append(mixed)
            out.append(RoundStart(mixed, f"{winner} with {s['author']}'s {describe(ideas)}"))
    return out


def shared_ledgers(
    store: ContentStore,
    reader: EventReader,
    spec: TaskSpec,
    task_id: int,
    round_: int,
    parent: str,
) -> list[SharedLedger]:
    """The experiment ledgers accepted contributions published in rounds before ``round_``,
    each fetched by its CID (verified, at most ``MAX_LEDGER_BYTES``) and read row by row
    against the task's search space; an unreadable one is a ledger with its reason."""
    space = spec.search_space()
    out = []
    for earlier in range(round_):
        try:
            report = load_round(store, reader, task_id, earlier).report
        except (ReportError, StorageError) as exc:
            out.append(_unread(f"round {earlier}'s report", f"unreadable: {exc}"))
            continue
        same_parent = report.get("parent_cid") == parent
        for s in report.get("submissions", []):
            cid = s.get("ledger_cid")
            if s.get("status") != "accepted" or not cid:
                continue
            source = f"{s.get('author')} in round {earlier}"
            try:
                data = _fetch_capped(store, cid)
            except (StorageError, ValueError) as exc:
                out.append(_unread(source, f"ledger {cid}: {exc}"))
                continue
            out.append(
                read_shared_ledger(data, source=source, space=space, same_parent=same_parent)
            )
    return out


def published_ideas(
    store: ContentStore, reader: EventReader, spec: TaskSpec, task_id: int, round_: int
) -> list[Idea]:
    """The ideas published before round ``round_``: each accepted contribution's changes in
    the earlier reports that set some knob away from the spec's recipe, each credited to its
    first publisher. A malformed report publishes none: every judge reads the same pinned
    bytes, so every judge leaves out the same ones. A report that cannot be fetched is an error
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
                and isinstance(changes, dict)
                and any(default.get(k) != v for k, v in changes.items())
            ):
                ideas.append(Idea(str(s.get("author")), earlier, changes))
    return first_published(ideas)


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
