"""Round reports as pinned next to each merge: the report and the Merkle tree of its credits.

Written by the coordinator, read by contributors (to claim with a proof) and by anyone
verifying payouts. The document is deterministic JSON, so the same round gives the same CID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from magnet_market.chain.audit import Audit, Check, verify_task
from magnet_market.chain.client import MarketClient
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.diloco import RoundReport
from magnet_market.errors import MagnetError
from magnet_market.storage import ContentStore, StorageError


class ReportError(MagnetError, ValueError):
    """A pinned round report is missing, malformed, or disagrees with the chain."""


@dataclass(frozen=True)
class PinnedRound:
    """A posted round as the chain and its pinned report describe it."""

    task_id: int
    round: int
    merged_cid: str
    report_cid: str
    credits_root: bytes
    total_credited: int
    report: dict[str, Any]
    tree: CreditTree | None


def pin_report(store: ContentStore, report: RoundReport, tree: CreditTree | None) -> str:
    """Pin the report with its credits tree; returns the document's CID."""
    document = {"report": json.loads(report.to_json()), "credits": tree.dump() if tree else None}
    return str(store.add_bytes((json.dumps(document, sort_keys=True, indent=1) + "\n").encode()))


def load_round(store: ContentStore, reader: EventReader, task_id: int, round_: int) -> PinnedRound:
    """Fetch round ``round_``'s pinned report and check its tree against the posted root."""
    posted = reader.get("RoundPosted", taskId=task_id, round=round_)
    if not posted:
        raise ReportError(f"round {round_} of task {task_id} has not been posted")
    args = posted[-1]["args"]
    try:
        document = json.loads(store.get(args["reportCID"]))
        tree = CreditTree.load(document["credits"]) if document["credits"] else None
        report = document["report"]
    except (ValueError, KeyError, TypeError) as e:
        raise ReportError(f"report {args['reportCID']} is malformed: {e}") from None
    root = tree.root if tree else bytes(32)
    if root != bytes(args["creditsRoot"]):
        raise ReportError(
            f"report {args['reportCID']}'s credit tree does not match the posted root"
        )
    return PinnedRound(
        task_id,
        round_,
        args["mergedCID"],
        args["reportCID"],
        bytes(args["creditsRoot"]),
        args["totalCredited"],
        report,
        tree,
    )


def verify_reports(store: ContentStore, reader: EventReader, task_id: int) -> list[Check]:
    """Re-check every posted round against its pinned report.

    For each round: the report's Merkle tree rebuilds the posted root (``load_round``), its
    credits add up to the posted total and to the report's own ``credited_wei``, and every
    reward claimed on chain is exactly the tree's amount for that account.
    """
    checks: list[Check] = []
    claims = reader.get("RewardClaimed", taskId=task_id)
    for posted in reader.get("RoundPosted", taskId=task_id):
        round_ = posted["args"]["round"]
        pinned = load_round(store, reader, task_id, round_)
        tree_total = sum(v for _, v in pinned.tree.values) if pinned.tree else 0
        checks.append(Check(f"round {round_} tree total", pinned.total_credited, tree_total))
        reported = int(pinned.report["credited_wei"])
        checks.append(Check(f"round {round_} report total", pinned.total_credited, reported))
        for e in claims:
            if e["args"]["round"] == round_:
                who = e["args"]["account"]
                owed = pinned.tree.amount(who) if pinned.tree else 0
                checks.append(Check(f"round {round_} reward of {who}", owed, e["args"]["amount"]))
    return checks


def verify_payouts(
    client: MarketClient, reader: EventReader, store: ContentStore | None, task_id: int
) -> Audit:
    """The payouts check (``magnet payouts verify``, the demo, the dashboard): the task's books
    rebuilt from events and reconciled with the contract, then, given a ``store``, every round
    against its pinned report. A report that cannot be fetched or disagrees is a problem."""
    audit = verify_task(client, reader, task_id)
    if store is not None:
        try:
            audit.checks.extend(verify_reports(store, reader, task_id))
        except (ReportError, StorageError) as e:
            audit.problems.append(f"pinned reports: {e}")
    return audit
