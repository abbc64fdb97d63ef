"""Round reports as pinned next to each merge: the report and the Merkle tree of its credits.

Written by the coordinator, read by contributors (to claim with a proof) and by anyone
verifying payouts. The document is deterministic JSON, so the same round gives the same CID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from magnet_market.app.ledger import PostedRecord, posted_record
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.diloco import RoundReport
from magnet_market.errors import MagnetError
from magnet_market.storage import ContentStore


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
    return load_posted(store, task_id, posted_record(posted[-1]))


def load_posted(store: ContentStore, task_id: int, posted: PostedRecord) -> PinnedRound:
    """Fetch the pinned report of a posted round (as the ledger holds it) and check its tree
    against the posted root."""
    try:
        document = json.loads(store.get(posted.report_cid))
        tree = CreditTree.load(document["credits"]) if document["credits"] else None
        report = document["report"]
    except (ValueError, KeyError, TypeError) as e:
        raise ReportError(f"report {posted.report_cid} is malformed: {e}") from None
    root = tree.root if tree else bytes(32)
    if root != posted.credits_root:
        raise ReportError(
            f"report {posted.report_cid}'s credit tree does not match the posted root"
        )
    return PinnedRound(
        task_id,
        posted.round,
        posted.merged_cid,
        posted.report_cid,
        posted.credits_root,
        posted.total_credited,
        report,
        tree,
    )
