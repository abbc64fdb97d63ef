"""The read model of a market: one task's events replayed, in chain order, into its books.

Every reader of the money — ``magnet task show``, ``magnet payouts verify``, the demo's summary
and the dashboard — takes its figures from :func:`task_ledger`, so they cannot disagree on what
the events say: who funded, joined, was credited, claimed, was slashed and refunded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from magnet_market.chain.types import SlashReason


@dataclass(frozen=True)
class PostedRecord:
    """A ``RoundPosted`` event: what the coordinator published for a round."""

    round: int
    merged_cid: str
    report_cid: str
    credits_root: bytes
    total_credited: int
    block: int


def posted_record(event: Any) -> PostedRecord:
    """The record of a decoded ``RoundPosted`` event."""
    a = event["args"]
    return PostedRecord(
        a["round"],
        a["mergedCID"],
        a["reportCID"],
        bytes(a["creditsRoot"]),
        a["totalCredited"],
        event["blockNumber"],
    )


@dataclass(frozen=True)
class RewardRecord:
    """A ``RewardClaimed`` event: a credit booked with its Merkle proof."""

    round: int
    account: str
    amount: int
    block: int


@dataclass(frozen=True)
class SlashRecord:
    """A ``ContributorSlashed`` event."""

    task_id: int
    round: int
    contributor: str
    reason: str
    amount: int
    block: int


@dataclass
class TaskBooks:
    """A task's balances as the events say they must be."""

    escrow: int = 0
    reserved: int = 0
    bonds_held: int = 0
    refund_remaining: int = 0
    total_funded: int = 0
    total_shares: int = 0
    paid_rewards: int = 0
    slashed: int = 0
    credited: dict[int, int] = field(default_factory=dict)  # round → total credited
    claimed: Counter[tuple[int, str]] = field(default_factory=Counter)  # (round, account) → claims
    rounds_posted: int = 0


@dataclass
class TaskLedger:
    """One task as its events tell it: the books and every record that moved money."""

    task_id: int
    books: TaskBooks = field(default_factory=TaskBooks)
    funded: Counter[str] = field(default_factory=Counter)  # funder → wei
    shares: Counter[str] = field(default_factory=Counter)  # funder → escrow shares held
    joined: dict[str, int] = field(default_factory=dict)  # contributor → bond
    posted: dict[int, PostedRecord] = field(default_factory=dict)
    rewards: list[RewardRecord] = field(default_factory=list)
    slashes: list[SlashRecord] = field(default_factory=list)
    refunds: Counter[str] = field(default_factory=Counter)  # funder → wei refunded

    def rewards_by_account(self) -> dict[str, int]:
        """Wei booked as rewards, per account."""
        totals: Counter[str] = Counter()
        for r in self.rewards:
            totals[r.account] += r.amount
        return dict(totals)

    def slashed_by_account(self) -> dict[str, int]:
        """Wei slashed, per contributor."""
        totals: Counter[str] = Counter()
        for s in self.slashes:
            totals[s.contributor] += s.amount
        return dict(totals)

    def claimed_in(self, round_: int) -> dict[str, int]:
        """Who booked a reward in ``round_``, and how much."""
        return {r.account: r.amount for r in self.rewards if r.round == round_}


def task_ledger(task_id: int, events: list[Any], claim_bond: int) -> TaskLedger:
    """Apply one task's events, in chain order, to an empty ledger.

    Args:
        task_id: the task the events belong to.
        events: its decoded events in chain order (``EventReader.all(taskId=...)``).
        claim_bond: the task's claim bond (what a challenge locked before bonds were evented).
    """
    ledger = TaskLedger(task_id)
    challenge_bonds: dict[int, int] = {}
    for e in events:
        _apply(ledger, e["event"], e["args"], e["blockNumber"], challenge_bonds, claim_bond)
    return ledger


def _apply(
    ledger: TaskLedger,
    name: str,
    a: Any,
    block: int,
    challenge_bonds: dict[int, int],
    claim_bond: int,
) -> None:
    books = ledger.books
    if name == "TaskFunded":
        books.escrow += a["amount"]
        books.total_funded += a["amount"]
        books.total_shares += a["shares"]
        ledger.funded[a["funder"]] += a["amount"]
        ledger.shares[a["funder"]] += a["shares"]
    elif name == "ContributorJoined":
        books.bonds_held += a["bond"]
        ledger.joined[a["contributor"]] = a["bond"]
    elif name == "RoundPosted":
        books.escrow -= a["totalCredited"]
        books.reserved += a["totalCredited"]
        books.credited[a["round"]] = a["totalCredited"]
        books.rounds_posted += 1
        ledger.posted[a["round"]] = posted_record({"args": a, "blockNumber": block})
    elif name == "RoundChallenged":
        books.bonds_held += a["bond"]
        challenge_bonds[a["round"]] = a["bond"]
    elif name == "ChallengeResolved":
        bond = challenge_bonds.pop(a["round"], claim_bond)
        books.bonds_held -= bond
        if a["upheld"]:
            books.reserved -= a["refundedToEscrow"]
            books.escrow += a["refundedToEscrow"]
            books.credited[a["round"]] -= a["refundedToEscrow"]
        else:
            books.escrow += bond
    elif name == "RewardClaimed":
        books.reserved -= a["amount"]
        books.paid_rewards += a["amount"]
        books.claimed[(a["round"], a["account"])] += 1
        ledger.rewards.append(RewardRecord(a["round"], a["account"], a["amount"], block))
    elif name == "ContributorSlashed":
        books.bonds_held -= a["amount"]
        books.escrow += a["amount"]
        books.slashed += a["amount"]
        reason = SlashReason(a["reason"]).name.lower()
        ledger.slashes.append(
            SlashRecord(a["taskId"], a["round"], a["contributor"], reason, a["amount"], block)
        )
    elif name == "TaskClosed":
        books.refund_remaining = a["refundPool"]
        books.escrow = 0
    elif name == "RefundClaimed":
        books.refund_remaining -= a["amount"]
        ledger.refunds[a["funder"]] += a["amount"]
        ledger.shares[a["funder"]] -= a["shares"]
    elif name == "BondReleased":
        books.bonds_held -= a["amount"]
