"""Python mirrors of the enums and structs in ``contracts/interfaces/IMagnetMarket.sol``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

#: Claimed metrics travel on chain as integers scaled by 1e18.
METRIC_SCALE = 10**18


class TaskStatus(IntEnum):
    NONE = 0
    OPEN = 1
    CLOSED = 2


class RoundPhase(IntEnum):
    NONE = 0
    SUBMITTING = 1
    REVEALING = 2
    MERGING = 3
    CHALLENGE = 4
    FINAL = 5
    VOIDED = 6
    UNSEALING = 7  # a sealed task's round waits for its holdout key (between REVEALING and MERGING)


class SlashReason(IntEnum):
    TIMEOUT = 0
    DISHONEST_CLAIM = 1
    BAD_VERIFICATION = 2


class DisputeOutcome(IntEnum):
    NONE = 0
    OPEN = 1
    POSTED_HELD = 2
    OVERTURNED = 3
    NO_QUORUM = 4


#: A slash the coordinator posts with a round: (contributor address, reason).
SlashOrder = tuple[str, SlashReason]


def slashes_digest(slashes: Sequence[SlashOrder]) -> bytes:
    """``keccak256(abi.encode(SlashOrder[]))`` as the contract records it (zero bytes if none)."""
    if not slashes:
        return bytes(32)
    encoded = abi_encode(
        ["(address,uint8)[]"], [[(to_checksum_address(a), int(r)) for a, r in slashes]]
    )
    return keccak(encoded)


def candidate_key(credits_root: bytes, total_credited: int, digest: bytes) -> bytes:
    """What validators vote on: keccak256(abi.encode(creditsRoot, totalCredited, slashesDigest))."""
    encoded = abi_encode(["bytes32", "uint256", "bytes32"], [credits_root, total_credited, digest])
    return keccak(encoded)


@dataclass(frozen=True)
class Timing:
    """Phase durations of every round, in seconds."""

    submit: int = 3600
    reveal: int = 1800
    merge: int = 3600
    challenge: int = 3600

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.submit, self.reveal, self.merge, self.challenge)


@dataclass(frozen=True)
class Floors:
    """The least every task on a market must give, fixed when the market is deployed.

    The defaults are the project's for a public network: rounds take at least ten minutes to
    submit and to reveal, the coordinator has at least half an hour to merge, anyone has at least
    an hour to challenge a posted round, and a slot costs at least 0.001 of the chain's coin.
    """

    submit: int = 600
    reveal: int = 600
    merge: int = 1800
    challenge: int = 3600
    claim_bond: int = 10**15

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.submit, self.reveal, self.merge, self.challenge, self.claim_bond)

    def admits(self, timing: Timing, claim_bond: int) -> list[str]:
        """What in ``timing`` and ``claim_bond`` is below these floors, one line each."""
        pairs = [
            ("timing.submit", timing.submit, self.submit),
            ("timing.reveal", timing.reveal, self.reveal),
            ("timing.merge", timing.merge, self.merge),
            ("timing.challenge", timing.challenge, self.challenge),
            ("claim_bond", claim_bond, self.claim_bond),
        ]
        return [
            f"{name} {value} is below the market's floor {floor}"
            for name, value, floor in pairs
            if value < floor
        ]


#: Floors for a local devnet where rounds take seconds (tests, the demo): phases of a second,
#: no challenge window, free slots. Never deploy a public market with these.
DEVNET_FLOORS = Floors(submit=1, reveal=1, merge=1, challenge=0, claim_bond=0)


@dataclass(frozen=True)
class MarketRules:
    """A market's dispute and payment rules, fixed when it is deployed.

    The defaults are the project's for a public network: a final round's credits stay claimable
    for 90 days, validators have a day to vote, a panel seat costs 0.1 of the chain's coin, three
    votes decide a dispute, and a coordinator stakes 20 % of each round's budget.
    """

    claim_window: int = 90 * 86_400
    vote_duration: int = 86_400
    validator_stake: int = 10**17
    quorum: int = 3
    coordinator_stake_bps: int = 2_000

    def stake_needed(self, escrow: int, rounds_left: int) -> int:
        """The coordinator stake posting a round needs: ``coordinator_stake_bps`` of the round's
        budget (an equal share of ``escrow`` per round left), rounded as the contract does."""
        if rounds_left <= 0:
            return 0
        return escrow * self.coordinator_stake_bps // (10_000 * rounds_left)

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (
            self.claim_window,
            self.vote_duration,
            self.validator_stake,
            self.quorum,
            self.coordinator_stake_bps,
        )


#: Rules for a local devnet (tests, the demo): a week to claim, a 30-second vote one validator
#: decides, cheap panel seats, coordinators stake 10 % of a round's budget.
DEVNET_RULES = MarketRules(
    claim_window=7 * 86_400,
    vote_duration=30,
    validator_stake=10**16,
    quorum=1,
    coordinator_stake_bps=1_000,
)


#: The longest phase a task may set, the contract's MAX_PHASE_DURATION (365 days).
MAX_PHASE_DURATION = 365 * 86_400


@dataclass(frozen=True)
class HoldoutTerms:
    """A sealed holdout as ``createTask`` takes it: the head of the sponsor's key chain, how long
    after each round's reveal deadline its key may be revealed, and the bond per round that a
    missed reveal forfeits to the round's contributors."""

    head: bytes
    reveal_duration: int
    bond_per_round: int

    def __post_init__(self) -> None:
        if len(self.head) != 32 or not any(self.head):
            raise ValueError("the holdout head must be 32 bytes, not all zero")
        if not 0 < self.reveal_duration <= MAX_PHASE_DURATION:
            raise ValueError(
                f"the holdout reveal window must be 1..{MAX_PHASE_DURATION} seconds, "
                f"got {self.reveal_duration}"
            )
        if self.bond_per_round <= 0:
            raise ValueError(f"the holdout bond per round must be > 0, got {self.bond_per_round}")

    def bond(self, rounds: int) -> int:
        """What ``createTask`` holds apart from the bounty: the bond of every round."""
        return self.bond_per_round * rounds

    def as_tuple(self) -> tuple[bytes, int, int]:
        return (self.head, self.reveal_duration, self.bond_per_round)


#: ``createTask``'s holdout argument for a task without a sealed holdout.
NO_HOLDOUT_TUPLE = (bytes(32), 0, 0)


@dataclass(frozen=True)
class HoldoutInfo:
    """A task's sealed holdout as stored on chain (all zero for a task without one)."""

    task_id: int
    last_key: bytes  # the head until the first key is revealed
    revealed_through: int  # rounds below it have their key on chain
    reveal_duration: int
    bond_per_round: int
    bond_held: int

    @property
    def sealed(self) -> bool:
        return self.bond_per_round > 0

    def revealed(self, round_: int) -> bool:
        """Whether round ``round_``'s key is on chain (revealed, or derivable from a later one)."""
        return round_ < self.revealed_through

    def forfeit(self, round_: int) -> int:
        """The bond posting round ``round_`` now would move into its budget: the round's bond
        when the holdout is sealed and the round's key is not on chain, else 0."""
        return self.bond_per_round if self.sealed and not self.revealed(round_) else 0

    @classmethod
    def from_abi(cls, task_id: int, h: Any) -> HoldoutInfo:
        return cls(task_id, bytes(h[0]), h[1], h[2], h[3], h[4])


@dataclass(frozen=True)
class SlashRates:
    """Slash rates in basis points; the project's defaults are 10 % / 50 % / 30 %."""

    timeout_bps: int = 1_000
    dishonest_claim_bps: int = 5_000
    bad_verification_bps: int = 3_000

    def __post_init__(self) -> None:
        for name in ("timeout_bps", "dishonest_claim_bps", "bad_verification_bps"):
            value = getattr(self, name)
            if not 0 <= value <= 10_000:
                raise ValueError(f"{name} must be between 0 and 10000 basis points, got {value}")

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.timeout_bps, self.dishonest_claim_bps, self.bad_verification_bps)


@dataclass(frozen=True)
class TaskInfo:
    """A task as stored on chain."""

    task_id: int
    sponsor: str
    coordinator: str
    status: TaskStatus
    rounds: int
    current_round: int
    contributor_count: int
    max_contributors: int
    claim_bond: int
    escrow: int
    reserved: int
    bonds_held: int
    total_funded: int
    total_shares: int
    refund_remaining: int
    coordinator_stake: int
    slashes_pending: int
    open_disputes: int
    timing: Timing
    rates: SlashRates
    spec_cid: str

    @property
    def held(self) -> int:
        """Everything the contract holds for this task (the invariant's per-task term)."""
        return (
            self.escrow
            + self.reserved
            + self.refund_remaining
            + self.bonds_held
            + self.coordinator_stake
        )

    @classmethod
    def from_abi(cls, task_id: int, t: Any) -> TaskInfo:
        return cls(
            task_id=task_id,
            sponsor=t[0],
            coordinator=t[1],
            status=TaskStatus(t[2]),
            rounds=t[3],
            current_round=t[4],
            contributor_count=t[5],
            max_contributors=t[6],
            claim_bond=t[7],
            escrow=t[8],
            reserved=t[9],
            bonds_held=t[10],
            total_funded=t[11],
            total_shares=t[12],
            refund_remaining=t[13],
            coordinator_stake=t[14],
            slashes_pending=t[15],
            open_disputes=t[16],
            timing=Timing(*t[17]),
            rates=SlashRates(*t[18]),
            spec_cid=t[19],
        )


@dataclass(frozen=True)
class RoundInfo:
    """A round as stored on chain."""

    task_id: int
    round: int
    phase: RoundPhase
    submit_deadline: int
    reveal_deadline: int
    challenge_deadline: int
    commits: int
    reveals: int
    credits_root: bytes
    total_credited: int
    claimed_total: int
    slashes_digest: bytes
    slashed_total: int

    @property
    def candidate(self) -> bytes:
        """The posted result as validators vote on it."""
        return candidate_key(self.credits_root, self.total_credited, self.slashes_digest)

    @classmethod
    def from_abi(cls, task_id: int, round_: int, r: Any) -> RoundInfo:
        return cls(task_id, round_, RoundPhase(r[0]), *r[1:])


@dataclass(frozen=True)
class DisputeInfo:
    """A round's dispute as stored on chain (outcome NONE: never challenged)."""

    task_id: int
    round: int
    outcome: DisputeOutcome
    vote_deadline: int
    challengers: int
    votes: int
    leader_votes: int
    tied: bool
    bond: int
    payout_per_winner: int
    posted_candidate: bytes
    leader: bytes

    @classmethod
    def from_abi(cls, task_id: int, round_: int, d: Any) -> DisputeInfo:
        return cls(task_id, round_, DisputeOutcome(d[0]), *d[1:])
