"""Rebuild a task's books from events alone and compare them with the contract's state.

Anyone can run this (``magnet payouts verify TASK``): it needs only an RPC endpoint. Every
figure the contract stores for a task — escrow, reserved credits, bonds, refunds — is recomputed
by replaying ``TaskFunded``, ``RoundPosted``, ``RewardClaimed``, ``ContributorSlashed``, … in
chain order, and the market-wide identity
``balance >= Σ task holdings + Σ withdrawable`` is checked over every account events mention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.types import TxReceipt

from magnet_market.app.ledger import ACCOUNT_ARGS, TaskBooks, TaskLedger, task_ledger
from magnet_market.app.reports import ReportError, load_posted
from magnet_market.app.session import Session
from magnet_market.chain.client import MarketClient
from magnet_market.chain.events import EventReader
from magnet_market.storage import ContentStore, StorageError


@dataclass(frozen=True)
class Check:
    """One reconciled figure: ``actual`` must equal ``expected`` (or, ``at_least``, cover it)."""

    name: str
    expected: int
    actual: int
    at_least: bool = False

    @property
    def ok(self) -> bool:
        return self.actual >= self.expected if self.at_least else self.expected == self.actual


@dataclass
class Audit:
    """Outcome of verifying one task and the market-wide identity."""

    task_id: int
    ledger: TaskLedger  # the events the books were rebuilt from, replayed
    checks: list[Check]
    problems: list[str]
    surplus: int = 0  # wei the market holds beyond every booking (e.g. ether forced into it)

    @property
    def books(self) -> TaskBooks:
        """The task's balances as the events say they must be."""
        return self.ledger.books

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
            "surplus": self.surplus,
        }


def verify_task(client: MarketClient, reader: EventReader, task_id: int) -> Audit:
    """Rebuild task ``task_id`` from events and reconcile it with the contract."""
    block = _block_number(client)  # one snapshot height for events and state
    events = reader.all(to_block=block, taskId=task_id)
    task = client.task(task_id)
    ledger = task_ledger(task_id, events)
    books = ledger.books
    checks = [
        Check("escrow", books.escrow, task.escrow),
        Check("reserved credits", books.reserved, task.reserved),
        Check("bonds held", books.bonds_held, task.bonds_held),
        Check("refund pool left", books.refund_remaining, task.refund_remaining),
        Check("total funded", books.total_funded, task.total_funded),
        Check("escrow shares", books.total_shares, task.total_shares),
        Check("coordinator stake", books.coordinator_stake, task.coordinator_stake),
        Check("slashes pending", books.slashes_pending, task.slashes_pending),
        Check("holdout bond held", ledger.holdout.bond_held, client.holdout(task_id).bond_held),
    ]
    problems = [
        f"round {r}: reward of {account} booked {n} times"
        for (r, account), n in books.claimed.items()
        if n > 1
    ]
    for round_, credited in books.credited.items():
        info = client.round(task_id, round_)
        paid = sum(r.amount for r in ledger.rewards if r.round == round_)
        gone = paid + ledger.expired_in[round_]  # the contract counts expired credit as claimed
        checks.append(Check(f"round {round_} claimed or expired", gone, info.claimed_total))
        if paid > credited:
            problems.append(f"round {round_}: {paid} wei claimed exceeds {credited} credited")
    identity = market_identity(client, reader, block)
    checks.append(identity)
    return Audit(task_id, ledger, checks, problems, surplus=identity.actual - identity.expected)


def market_identity(client: MarketClient, reader: EventReader, block: int | None = None) -> Check:
    """``balance >= Σ task holdings + Σ validator stakes + Σ withdrawable`` over every account
    the events mention.

    Anything above is surplus: ether no action booked (sent by ``selfdestruct`` or as a block
    reward, which no contract can refuse). It is reported, never owed to anyone, and it cannot
    hide a shortfall: the books pass only while the balance covers every booking.
    """
    block = block if block is not None else _block_number(client)
    accounts: set[str] = set()
    for e in reader.all(to_block=block):
        for key in ACCOUNT_ARGS:
            if key in e["args"]:
                accounts.add(e["args"][key])
    tasks = range(1, client.task_count() + 1)
    held = sum(client.task(t).held + client.holdout(t).bond_held for t in tasks)
    owed = sum(client.withdrawable(a) for a in accounts)
    staked = client.validator_stake_total()
    return Check(
        "market balance covers holdings + stakes + withdrawable",
        held + staked + owed,
        client.balance(),
        True,
    )


def _block_number(client: MarketClient) -> int:
    return client.connection.rpc(lambda: client.w3.eth.block_number)


def verify_reports(store: ContentStore, ledger: TaskLedger) -> list[Check]:
    """Re-check every posted round against its pinned report.

    For each round: the report's Merkle tree rebuilds the root the round pays by (the posted
    one, or the one a dispute's majority voted for, with that voter's report), its credits add
    up to the round's total and to the report's own ``credited_wei``, and every reward claimed
    on chain is exactly the tree's amount for that account.
    """
    checks: list[Check] = []
    for round_ in sorted(ledger.posted):
        pinned = load_posted(store, ledger.task_id, ledger.paid_under(round_))
        tree_total = pinned.tree.total if pinned.tree else 0
        checks.append(Check(f"round {round_} tree total", pinned.total_credited, tree_total))
        reported = int(pinned.report["credited_wei"])
        checks.append(Check(f"round {round_} report total", pinned.total_credited, reported))
        for who, amount in ledger.claimed_in(round_).items():
            owed = pinned.tree.amount(who) if pinned.tree else 0
            checks.append(Check(f"round {round_} reward of {who}", owed, amount))
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
            audit.checks.extend(verify_reports(store, audit.ledger))
        except (ReportError, StorageError) as e:
            audit.problems.append(f"pinned reports: {e}")
    return audit


class Auditor:
    """Anyone who checks the money, and challenges a round that does not add up.

    Args:
        session: whose chain and store to read (it signs only to challenge).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def ledger(self, task_id: int) -> TaskLedger:
        """Task ``task_id``'s events replayed into its books and records."""
        return task_ledger(task_id, self.session.events.all(taskId=task_id))

    def verify_payouts(self, task_id: int, reports: bool = True) -> Audit:
        """The task's books from events, reconciled with the contract, then (``reports``)
        every posted round against its pinned report."""
        store = self.session.store if reports else None
        return verify_payouts(self.session.market, self.session.events, store, task_id)

    def challenge(self, task_id: int, round_: int, reason: str) -> TxReceipt:
        """Dispute a posted round during its challenge window (or join its open dispute),
        locking the dispute's bond; the validators' vote decides."""
        return self.session.signing_market.challenge(task_id, round_, reason)
