"""Python mirrors of the enums and structs in ``contracts/interfaces/IMagnetMarket.sol``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

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


class SlashReason(IntEnum):
    TIMEOUT = 0
    DISHONEST_CLAIM = 1
    BAD_VERIFICATION = 2


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
    timing: Timing
    rates: SlashRates
    spec_cid: str

    @property
    def held(self) -> int:
        """Everything the contract holds for this task (the invariant's per-task term)."""
        return self.escrow + self.reserved + self.refund_remaining + self.bonds_held

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
            timing=Timing(*t[14]),
            rates=SlashRates(*t[15]),
            spec_cid=t[16],
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
    challenger: str
    challenge_bond: int

    @classmethod
    def from_abi(cls, task_id: int, round_: int, r: Any) -> RoundInfo:
        return cls(task_id, round_, RoundPhase(r[0]), *r[1:])
