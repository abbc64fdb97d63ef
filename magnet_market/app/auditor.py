"""Rebuild a task's books from events alone and compare them with the contract's state.

Anyone can run this (``magnet payouts verify TASK``): it needs only an RPC endpoint. Every
figure the contract stores for a task — escrow, reserved credits, bonds, refunds — is recomputed
by replaying ``TaskFunded``, ``RoundPosted``, ``RewardClaimed``, ``ContributorSlashed``, … in
chain order, and the market-wide identity
``balance == Σ task holdings + Σ withdrawable`` is checked over every account events mention.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from magnet_market.chain.client import MarketClient
from magnet_market.chain.events import EventReader


@dataclass
class TaskBooks:
    """A task's balances as the events say they must be."""

    escrow: int = 0
    reserved: int = 0
    bonds_held: int = 0
    refund_remaining: int = 0
    total_funded: int = 0
    paid_rewards: int = 0
    slashed: int = 0
    credited: dict[int, int] = field(default_factory=dict)  # round → total credited
    claimed: Counter[tuple[int, str]] = field(default_factory=Counter)  # (round, account) → claims
    rounds_posted: int = 0


@dataclass(frozen=True)
class Check:
    """One reconciled figure."""

    name: str
    expected: int
    actual: int

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class Audit:
    """Outcome of verifying one task and the market-wide identity."""

    task_id: int
    books: TaskBooks
    checks: list[Check]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """The audit as plain JSON values (amounts in wei as integers)."""
        return {
            "task_id": self.task_id,
            "ok": self.ok,
            "checks": [
                {"name": c.name, "expected": c.expected, "actual": c.actual, "ok": c.ok}
                for c in self.checks
            ],
            "problems": self.problems,
            "credited_per_round": self.books.credited,
            "paid_rewards": self.books.paid_rewards,
            "slashed": self.books.slashed,
        }


def replay(events: list[Any], claim_bond: int) -> TaskBooks:
    """Apply one task's events, in chain order, to empty books."""
    books = TaskBooks()
    challenge_bonds: dict[int, int] = {}
    for e in events:
        name, a = e["event"], e["args"]
        if name == "TaskFunded":
            books.escrow += a["amount"]
            books.total_funded += a["amount"]
        elif name == "ContributorJoined":
            books.bonds_held += a["bond"]
        elif name == "RoundPosted":
            books.escrow -= a["totalCredited"]
            books.reserved += a["totalCredited"]
            books.credited[a["round"]] = a["totalCredited"]
            books.rounds_posted += 1
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
        elif name == "ContributorSlashed":
            books.bonds_held -= a["amount"]
            books.escrow += a["amount"]
            books.slashed += a["amount"]
        elif name == "TaskClosed":
            books.refund_remaining = a["refundPool"]
            books.escrow = 0
        elif name == "RefundClaimed":
            books.refund_remaining -= a["amount"]
        elif name == "BondReleased":
            books.bonds_held -= a["amount"]
    return books


def verify_task(client: MarketClient, reader: EventReader, task_id: int) -> Audit:
    """Rebuild task ``task_id`` from events and reconcile it with the contract."""
    block = _block_number(client)  # one snapshot height for events and state
    events = reader.all(to_block=block, taskId=task_id)
    task = client.task(task_id)
    books = replay(events, task.claim_bond)
    checks = [
        Check("escrow", books.escrow, task.escrow),
        Check("reserved credits", books.reserved, task.reserved),
        Check("bonds held", books.bonds_held, task.bonds_held),
        Check("refund pool left", books.refund_remaining, task.refund_remaining),
        Check("total funded", books.total_funded, task.total_funded),
    ]
    problems = [
        f"round {r}: reward of {account} booked {n} times"
        for (r, account), n in books.claimed.items()
        if n > 1
    ]
    for round_, credited in books.credited.items():
        info = client.round(task_id, round_)
        paid = sum(
            e["args"]["amount"]
            for e in events
            if e["event"] == "RewardClaimed" and e["args"]["round"] == round_
        )
        checks.append(Check(f"round {round_} claimed", paid, info.claimed_total))
        if paid > credited:
            problems.append(f"round {round_}: {paid} wei claimed exceeds {credited} credited")
    checks.append(market_identity(client, reader, block))
    return Audit(task_id, books, checks, problems)


def market_identity(client: MarketClient, reader: EventReader, block: int | None = None) -> Check:
    """``balance == Σ task holdings + Σ withdrawable`` over every account the events mention."""
    block = block if block is not None else _block_number(client)
    accounts: set[str] = set()
    for e in reader.all(to_block=block):
        for key in ("account", "funder", "contributor", "challenger", "sponsor"):
            if key in e["args"]:
                accounts.add(e["args"][key])
    held = sum(client.task(t).held for t in range(1, client.task_count() + 1))
    owed = sum(client.withdrawable(a) for a in accounts)
    return Check("market balance = holdings + withdrawable", held + owed, client.balance())


def _block_number(client: MarketClient) -> int:
    return client.connection.rpc(lambda: client.w3.eth.block_number)
