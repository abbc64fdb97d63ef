"""Judging a round: from chain events and content alone to its report, credits and slashes.

The coordinator judges the round it is about to post; a validator judges a posted round again to
vote on a dispute (``magnet validator run``, ``magnet verify round``). Both run this
same code on the same inputs — the round's parent, its revealed checkpoints (each verified
against its CID), the task's spec and the round's budget as the events left it — so an honest
validator gets the posted result, and the report it pins has the same CID.

A task with a sealed holdout is credited on round r's slice when its key was revealed in the
round's window (``HoldoutRevealed``): claims are still checked on the public validation split,
which contributors can measure themselves. A round posted without its key is credited on the
validation split, and its budget holds the sponsor's forfeited bond.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from magnet_market.app.content import fetch_spec, parent_cid, task_dataset
from magnet_market.app.ledger import PostedRecord, posted_record, task_ledger
from magnet_market.app.reports import pin_report
from magnet_market.app.swarm import published_ideas
from magnet_market.chain.client import MarketClient
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import (
    METRIC_SCALE,
    SlashOrder,
    SlashReason,
    candidate_key,
    slashes_digest,
)
from magnet_market.datasets.holdout import open_slice
from magnet_market.datasets.local import LocalDataset
from magnet_market.datasets.seal import earlier_key
from magnet_market.diloco import (
    CreditSplit,
    Metric,
    RoundConfig,
    RoundReport,
    Submission,
    VerifyRules,
    run_round,
    with_merged_cid,
)
from magnet_market.errors import MagnetError
from magnet_market.storage import ContentStore, StorageError
from magnet_market.tasks.data import task_data
from magnet_market.tasks.spec import TaskSpec

#: Failed checks that mean the work itself is bad (slashed), as opposed to merely unlucky.
#: A failed fetch is not among them: the coordinator's own network may be at fault.
BAD_WORK_CHECKS = frozenset(
    {"safetensors", "kind", "config", "tensors", "parent", "finite", "update_norm", "work"}
)


class JudgingError(MagnetError, LookupError):
    """A round cannot be judged: it was never posted, or its inputs are missing."""


@dataclass(frozen=True)
class RoundResult:
    """A judged round: what its post carries (or should have carried)."""

    task_id: int
    round: int
    merged_cid: str
    report: RoundReport
    report_cid: str
    tree: CreditTree | None
    slashes: tuple[SlashOrder, ...]

    @property
    def credits_root(self) -> bytes:
        return self.tree.root if self.tree else bytes(32)

    @property
    def total_credited(self) -> int:
        return self.tree.total if self.tree else 0

    @property
    def slashes_digest(self) -> bytes:
        return slashes_digest(self.slashes)

    @property
    def candidate(self) -> bytes:
        """The result as validators vote on it."""
        return candidate_key(self.credits_root, self.total_credited, self.slashes_digest)


def credit_tree(credits: dict[str, int]) -> CreditTree | None:
    """The Merkle tree of a round's positive credits (``None`` when nobody is credited)."""
    positive = [(who, amount) for who, amount in credits.items() if amount > 0]
    return CreditTree.of(positive) if positive else None


def round_config(spec: TaskSpec) -> RoundConfig:
    """The verification and merge rules of ``spec``'s rounds."""
    rules = VerifyRules(
        metric=Metric(spec.metric, higher_is_better=not spec.lower_is_better),
        claim_tolerance=spec.verification.claim_tolerance,
        regression_tolerance=spec.verification.regression_tolerance,
        max_steps=spec.inner_steps,
    )
    return RoundConfig(
        rules=rules, credit=spec.verification.credit, idea_share_bps=spec.market.idea_share_bps
    )


def posted_round(
    reader: EventReader, task_id: int, round_: int, rounds: int
) -> tuple[PostedRecord, int]:
    """What was posted for round ``round_``, and the budget it had then: an equal share of the
    escrow the events left just before its post, per remaining round, plus the sponsor's
    holdout bond if the post forfeited it (``HoldoutForfeited``, just before ``RoundPosted``)."""
    events = reader.all(taskId=task_id)
    for i, e in enumerate(events):
        if e["event"] == "RoundPosted" and e["args"]["round"] == round_:
            ledger = task_ledger(task_id, events[:i])
            forfeit = ledger.holdout.forfeited.get(round_, 0)
            budget = (ledger.books.escrow - forfeit) // (rounds - round_) + forfeit
            return posted_record(e), budget
    raise JudgingError(f"round {round_} of task {task_id} has not been posted")


def holdout_key(reader: EventReader, task_id: int, round_: int) -> bytes | None:
    """Round ``round_``'s holdout key if it was revealed in the round's window, else ``None``."""
    for e in reader.get("HoldoutRevealed", taskId=task_id, round=round_):
        return bytes(e["args"]["key"])
    return None


def _credit_split(
    store: ContentStore, spec: TaskSpec, dataset: Path | None, round_: int, key: bytes
) -> CreditSplit:
    """Round ``round_``'s holdout slice, opened with its key (and the slices before it, which
    earlier keys derived from it open: a series is judged after everything before it)."""
    assert spec.dataset is not None and dataset is not None  # only dataset tasks are sealed
    local = LocalDataset.open(dataset)
    for i in range(round_ + 1):
        open_slice(local, i, earlier_key(key, round_, i))
    name = f"holdout:{round_}"
    return CreditSplit(name, task_data(spec, dataset, judged_split=name).evaluate)


def judge_round(
    client: MarketClient,
    store: ContentStore,
    reader: EventReader,
    workdir: Path,
    task_id: int,
    round_: int,
    budget: int,
) -> RoundResult:
    """Verify, merge and credit round ``round_`` of a task with ``budget`` wei, find its slashes,
    and pin its merged checkpoint and report (the same CIDs for the same inputs)."""
    spec = fetch_spec(client, store, task_id)
    parent = parent_cid(reader, spec, task_id, round_)
    folder = workdir / f"task{task_id}" / f"round{round_}"
    parent_path = store.get_to_path(parent, folder / "parent.safetensors")
    reveals = reader.get("SubmissionRevealed", taskId=task_id, round=round_)
    submissions = [_fetch(store, e["args"], folder) for e in reveals]
    dataset = task_dataset(store, spec)
    key = holdout_key(reader, task_id, round_)
    sealed = client.holdout(task_id)
    outcome = run_round(
        task_id=task_id,
        round_index=round_,
        parent_path=parent_path,
        parent_cid=parent,
        model_config=spec.model_config_obj(),
        submissions=submissions,
        evaluate=task_data(spec, dataset).evaluate,
        reward_wei=budget,
        out=folder / "merged.safetensors",
        config=round_config(spec),
        credit_split=None if key is None else _credit_split(store, spec, dataset, round_, key),
        ideas=published_ideas(store, reader, spec, task_id, round_),
    )
    merged_cid = (
        str(store.add_path(outcome.merged_path))
        if outcome.merged_path is not None
        else parent  # nothing accepted: the parent carries over
    )
    forfeit = sealed.bond_per_round if sealed.sealed and key is None else 0
    report = replace(with_merged_cid(outcome.report, merged_cid), holdout_forfeit_wei=forfeit)
    tree = credit_tree(report.credits())
    report_cid = pin_report(store, report, tree)
    slashes = _slashes(client, reader, task_id, round_, report)
    return RoundResult(task_id, round_, merged_cid, report, report_cid, tree, slashes)


def _fetch(store: ContentStore, reveal: dict, folder: Path) -> Submission:
    """Fetch a revealed checkpoint (verified against its CID) to a file for verification."""
    author, cid = reveal["contributor"], reveal["cid"]
    path = folder / f"{author}.safetensors"
    fetch_error = None
    try:
        store.get_to_path(cid, path)
    except StorageError as e:
        fetch_error = f"could not fetch {cid}: {type(e).__name__}: {e}"
    return Submission(
        cid=cid,
        author=author,
        path=path,
        claimed_metric=reveal["claimedMetric"] / METRIC_SCALE,
        fetch_error=fetch_error,
    )


def _slashes(
    client: MarketClient, reader: EventReader, task_id: int, round_: int, report: RoundReport
) -> tuple[SlashOrder, ...]:
    """The round's slashes: a dishonest claim or bad work in the report, and a timeout for
    every contributor expected in the round that revealed nothing."""
    due: list[SlashOrder] = []
    for s in report.submissions:
        failed = {c.name for c in s.checks if not c.passed}
        if s.status == "dishonest":
            due.append((s.author, SlashReason.DISHONEST_CLAIM))
        elif failed & BAD_WORK_CHECKS:
            due.append((s.author, SlashReason.BAD_VERIFICATION))
    revealed = {s.author for s in report.submissions}
    for e in reader.get("ContributorJoined", taskId=task_id):
        who = e["args"]["contributor"]
        if who not in revealed and client.contributor(task_id, who)["first_round"] <= round_:
            due.append((who, SlashReason.TIMEOUT))
    return tuple(due)
