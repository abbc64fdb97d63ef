"""The read model of a market: one task's events replayed, in chain order, into its books.

Every reader of the money — ``magnet task show``, ``magnet payouts verify``, the demo's summary
and the dashboard — takes its figures from :func:`task_ledger`, so they cannot disagree on what
the events say: who funded, joined, was credited, claimed, was slashed and refunded, who
challenged and voted, and how each dispute ended.

The replay follows the contract's rules: a posted slash stays in the held bonds until every
posted round is settled (it joins the escrow at the next funding, or the refund pool at close);
a dispute decided for another result returns the difference of credits to the escrow, reverts the
round's slashes and moves the coordinator's stake to the winners.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from magnet_market.chain.types import DisputeOutcome, SlashReason

#: Event arguments that name an account (every one that may hold a withdrawable balance).
ACCOUNT_ARGS = (
    "account",
    "funder",
    "contributor",
    "challenger",
    "sponsor",
    "coordinator",
    "validator",
    "by",
    "closedBy",
)


@dataclass(frozen=True)
class PostedRecord:
    """A ``RoundPosted`` event: what the coordinator published for a round."""

    round: int
    merged_cid: str
    report_cid: str
    credits_root: bytes
    total_credited: int
    block: int
    slashes_digest: bytes = bytes(32)


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
        bytes(a["slashesDigest"]),
    )


@dataclass
class DisputeRecord:
    """A round's dispute as its events tell it."""

    round: int
    bond: int = 0
    vote_deadline: int = 0
    challengers: list[str] = field(default_factory=list)
    votes: dict[str, bytes] = field(default_factory=dict)  # validator → candidate
    # candidate → (credits root, total credited, a voter's report CID)
    candidates: dict[bytes, tuple[bytes, int, str]] = field(default_factory=dict)
    outcome: DisputeOutcome = DisputeOutcome.OPEN
    leader: bytes = bytes(32)
    payout_per_winner: int = 0
    forfeited_stake: int = 0
    refunded_to_escrow: int = 0
    paid: Counter[str] = field(default_factory=Counter)  # account → wei booked

    def winners(self) -> int:
        """Challenges and votes on the winning side (0 with no quorum: everyone is refunded)."""
        leading = sum(1 for c in self.votes.values() if c == self.leader)
        if self.outcome is DisputeOutcome.POSTED_HELD:
            return leading
        if self.outcome is DisputeOutcome.OVERTURNED:
            return leading + len(self.challengers)
        return 0

    def dust(self) -> int:
        """Rounding left over from splitting the losers' bonds (and stake); it joins the escrow."""
        winners = self.winners()
        if winners == 0:
            return 0
        entries = len(self.challengers) + len(self.votes)
        pool = self.bond * (entries - winners) + self.forfeited_stake
        return pool - self.payout_per_winner * winners


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
class HoldoutRecord:
    """A task's sealed holdout bond as its events tell it (all zero without one)."""

    bond_held: int = 0
    forfeited: Counter[int] = field(default_factory=Counter)  # round → bond sent to its budget
    returned: int = 0  # bond booked back to the sponsor (keys revealed, close)


@dataclass
class TaskBooks:
    """A task's balances as the events say they must be."""

    escrow: int = 0
    reserved: int = 0
    bonds_held: int = 0
    refund_remaining: int = 0
    total_funded: int = 0
    total_shares: int = 0
    coordinator_stake: int = 0
    slashes_pending: int = 0  # posted slashes not yet in the escrow (inside bonds_held)
    paid_rewards: int = 0
    slashed: int = 0
    expired: int = 0
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
    disputes: dict[int, DisputeRecord] = field(default_factory=dict)
    reverted: Counter[tuple[int, str]] = field(default_factory=Counter)  # slashes given back
    slashed_in: Counter[int] = field(default_factory=Counter)  # round → wei slashed with the post
    replaced: dict[int, PostedRecord] = field(default_factory=dict)  # credits a dispute put in
    expired_in: Counter[int] = field(default_factory=Counter)  # round → credits expired
    holdout: HoldoutRecord = field(default_factory=HoldoutRecord)
    rounds: int = 0
    status_closed: bool = False

    def rewards_by_account(self) -> dict[str, int]:
        """Wei booked as rewards, per account."""
        totals: Counter[str] = Counter()
        for r in self.rewards:
            totals[r.account] += r.amount
        return dict(totals)

    def slashed_by_account(self) -> dict[str, int]:
        """Wei slashed and not given back, per contributor."""
        totals: Counter[str] = Counter()
        for s in self.slashes:
            totals[s.contributor] += s.amount
        for (_, who), amount in self.reverted.items():
            totals[who] -= amount
        return {who: amount for who, amount in totals.items() if amount}

    def paid_under(self, round_: int) -> PostedRecord:
        """The credits a posted round pays by: the posted ones, or those a dispute put in."""
        return self.replaced.get(round_, self.posted[round_])

    def voided(self, round_: int) -> bool:
        """A dispute voided the round (no quorum, or a majority crediting more than was
        posted): it credits nobody."""
        dispute = self.disputes.get(round_)
        if dispute is None:
            return False
        overturned = dispute.outcome is DisputeOutcome.OVERTURNED
        return dispute.outcome is DisputeOutcome.NO_QUORUM or (
            overturned and round_ not in self.replaced
        )

    def claimed_in(self, round_: int) -> dict[str, int]:
        """Who booked a reward in ``round_``, and how much."""
        return {r.account: r.amount for r in self.rewards if r.round == round_}


def task_ledger(task_id: int, events: list[Any]) -> TaskLedger:
    """Apply one task's events, in chain order, to an empty ledger.

    Args:
        task_id: the task the events belong to.
        events: its decoded events in chain order (``EventReader.all(taskId=...)``).
    """
    ledger = TaskLedger(task_id)
    for e in events:
        _apply(ledger, e["event"], e["args"], e["blockNumber"])
    return ledger


def _settle_slashes(books: TaskBooks) -> None:
    """Posted slashes of settled rounds join the escrow (the contract does it on fund and close)."""
    books.bonds_held -= books.slashes_pending
    books.escrow += books.slashes_pending
    books.slashes_pending = 0


def _apply(ledger: TaskLedger, name: str, a: Any, block: int) -> None:
    books = ledger.books
    if name in _DISPUTE_EVENTS:
        _apply_dispute(ledger, name, a)
    elif name in _HOLDOUT_EVENTS:
        _apply_holdout(ledger, name, a)
    elif name == "TaskCreated":
        ledger.rounds = a["rounds"]
    elif name == "TaskFunded":
        _settle_slashes(books)
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
    elif name == "CoordinatorStaked":
        books.coordinator_stake += a["amount"]
    elif name == "StakeReleased":
        books.coordinator_stake -= a["amount"]
    elif name == "RewardClaimed":
        books.reserved -= a["amount"]
        books.paid_rewards += a["amount"]
        books.claimed[(a["round"], a["account"])] += 1
        ledger.rewards.append(RewardRecord(a["round"], a["account"], a["amount"], block))
    elif name == "CreditsExpired":
        ledger.expired_in[a["round"]] += a["amount"]
        _expire(ledger, a["amount"])
    elif name == "ContributorSlashed":
        books.slashes_pending += a["amount"]
        books.slashed += a["amount"]
        ledger.slashed_in[a["round"]] += a["amount"]
        reason = SlashReason(a["reason"]).name.lower()
        ledger.slashes.append(
            SlashRecord(a["taskId"], a["round"], a["contributor"], reason, a["amount"], block)
        )
    elif name == "SlashReverted":
        books.slashed -= a["amount"]
        ledger.reverted[(a["round"], a["contributor"])] += a["amount"]
    elif name == "TaskClosed":
        _settle_slashes(books)
        books.refund_remaining = a["refundPool"]
        books.escrow = 0
        ledger.status_closed = True
    elif name == "RefundClaimed":
        books.refund_remaining -= a["amount"]
        ledger.refunds[a["funder"]] += a["amount"]
        ledger.shares[a["funder"]] -= a["shares"]
    elif name == "BondReleased":
        books.bonds_held -= a["amount"]


_HOLDOUT_EVENTS = frozenset(
    {"HoldoutSealed", "HoldoutRevealed", "HoldoutForfeited", "HoldoutBondReturned"}
)


def _apply_holdout(ledger: TaskLedger, name: str, a: Any) -> None:
    """The sponsor's bond: held at creation, booked back with each key revealed in time or at
    close, or forfeited into the escrow (the round's budget) by a post without the key."""
    holdout = ledger.holdout
    if name == "HoldoutSealed":
        holdout.bond_held = a["bondPerRound"] * ledger.rounds
    elif name == "HoldoutRevealed":
        holdout.bond_held -= a["bondReturned"]
        holdout.returned += a["bondReturned"]
    elif name == "HoldoutForfeited":
        holdout.forfeited[a["round"]] += a["amount"]
        holdout.bond_held -= a["amount"]
        ledger.books.escrow += a["amount"]
    else:  # HoldoutBondReturned
        holdout.bond_held -= a["amount"]
        holdout.returned += a["amount"]


_DISPUTE_EVENTS = frozenset(
    {"DisputeOpened", "RoundChallenged", "VoteCast", "DisputeResolved", "DisputePaid"}
)


def _apply_dispute(ledger: TaskLedger, name: str, a: Any) -> None:
    books = ledger.books
    record = ledger.disputes.setdefault(a["round"], DisputeRecord(a["round"]))
    if name == "DisputeOpened":
        record.vote_deadline = a["voteDeadline"]
    elif name == "RoundChallenged":
        record.bond = a["bond"]
        record.challengers.append(a["challenger"])
        books.bonds_held += a["bond"]
    elif name == "VoteCast":
        candidate = bytes(a["candidate"])
        record.votes[a["validator"]] = candidate
        record.candidates.setdefault(
            candidate, (bytes(a["creditsRoot"]), a["totalCredited"], a["reportCID"])
        )
        books.bonds_held += a["bond"]
    elif name == "DisputePaid":
        record.paid[a["account"]] += a["amount"]
        books.bonds_held -= a["amount"]
    else:  # DisputeResolved
        record.outcome = DisputeOutcome(a["outcome"])
        record.leader = bytes(a["leader"])
        record.payout_per_winner = a["payoutPerWinner"]
        record.forfeited_stake = a["forfeitedStake"]
        record.refunded_to_escrow = refunded = a["refundedToEscrow"]
        books.coordinator_stake -= record.forfeited_stake
        books.bonds_held += record.forfeited_stake
        books.reserved -= refunded
        books.escrow += refunded
        books.credited[a["round"]] -= refunded
        if record.outcome is not DisputeOutcome.POSTED_HELD:
            books.slashes_pending -= ledger.slashed_in[a["round"]]
        if record.outcome is DisputeOutcome.OVERTURNED:
            _replace_credits(ledger, record)
        dust = record.dust()
        books.bonds_held -= dust
        books.escrow += dust


def _replace_credits(ledger: TaskLedger, record: DisputeRecord) -> None:
    """An overturned round pays under the winning vote's credits, unless they credited more
    than was posted (then it is voided)."""
    posted = ledger.posted[record.round]
    root, total, report_cid = record.candidates[record.leader]
    if total <= posted.total_credited:
        ledger.replaced[record.round] = replace(
            posted, report_cid=report_cid, credits_root=root, total_credited=total
        )


def _expire(ledger: TaskLedger, amount: int) -> None:
    """Unclaimed credits back to the funders: the escrow while open, else the refund pool (the
    sponsor's withdrawable once every funder took its refund)."""
    books = ledger.books
    books.reserved -= amount
    books.expired += amount
    if not ledger.status_closed:
        books.escrow += amount
    elif sum(ledger.shares.values()) > 0:
        books.refund_remaining += amount
