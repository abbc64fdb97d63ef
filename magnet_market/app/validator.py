"""A validator: sits on the market's panel, judges disputed rounds again and votes.

A validator locks the market's validator stake once (``stake``); in every dispute opened after
that it may vote, locking the dispute's bond, for the result it recomputed for the round
(``verify``: the same judging the coordinator ran, on the inputs the chain and the store hold):
the Merkle root and total of the credits and the digest of the slashes. The majority decides;
the winning side shares the losing side's bonds (and, when the posted result loses, the
coordinator's stake). Anyone can decide a dispute once its vote is over (``resolve``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from web3.types import TxReceipt

from magnet_market.app.judging import RoundResult, judge_round, posted_round
from magnet_market.app.ledger import PostedRecord
from magnet_market.app.role import Role
from magnet_market.app.session import Session
from magnet_market.bitnet import kernel
from magnet_market.chain.types import (
    DisputeInfo,
    DisputeOutcome,
    RoundPhase,
    TaskStatus,
    candidate_key,
)
from magnet_market.errors import MagnetError


@dataclass(frozen=True)
class Ballot:
    """A result a validator votes for: the round's credits and slashes as it recomputed them."""

    credits_root: bytes
    total_credited: int
    slashes_digest: bytes
    report_cid: str


@dataclass(frozen=True)
class RoundVerification:
    """A posted round judged again: the recomputed result beside what was posted."""

    result: RoundResult
    posted: PostedRecord

    @property
    def posted_candidate(self) -> bytes:
        p = self.posted
        return candidate_key(p.credits_root, p.total_credited, p.slashes_digest)

    @property
    def matches_posted(self) -> bool:
        """Same report (so the same credits and slashes) as the coordinator posted."""
        return (
            self.result.report_cid == self.posted.report_cid
            and self.result.candidate == self.posted_candidate
        )

    @property
    def ballot(self) -> Ballot:
        """What to vote for: the recomputed result."""
        r = self.result
        return Ballot(r.credits_root, r.total_credited, r.slashes_digest, r.report_cid)

    def as_dict(self) -> dict[str, object]:
        """The verification as plain JSON values."""
        r = self.result
        return {
            "task_id": r.task_id,
            "round": r.round,
            "report_cid": r.report_cid,
            "posted_report_cid": self.posted.report_cid,
            "matches_posted": self.matches_posted,
            "merged_cid": r.merged_cid,
            "credits_root": "0x" + r.credits_root.hex(),
            "total_credited": r.total_credited,
            "slashes": [[who, reason.name.lower()] for who, reason in r.slashes],
            "slashes_digest": "0x" + r.slashes_digest.hex(),
            "candidate": "0x" + r.candidate.hex(),
            "posted_candidate": "0x" + self.posted_candidate.hex(),
            "kernel_path": kernel.resolve_path(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        }


class ValidatorError(MagnetError, RuntimeError):
    """The validator cannot act (no signing account)."""


def verify_round(
    session: Session, task_id: int, round_: int, workdir: Path | None = None
) -> RoundVerification:
    """Judge a posted round again from chain events and content alone (no account needed),
    beside what the coordinator posted (``magnet verify round``)."""
    market = session.market
    posted, budget = posted_round(session.events, task_id, round_, market.task(task_id).rounds)
    folder = workdir or session.workdir("validator")
    result = judge_round(market, session.store, session.events, folder, task_id, round_, budget)
    return RoundVerification(result, posted)


class Validator(Role):
    """One validator account on the market's panel (see :class:`~magnet_market.app.role.Role`).

    ``run`` watches a task: every posted round still in its challenge window is judged again;
    one that disagrees is challenged and voted on, disputes others opened get this validator's
    vote, decided disputes are resolved and their payouts booked. Restartable: what was done
    is read back from the chain, and judging the same round again gives the same result.
    """

    error = ValidatorError

    def verify(self, task_id: int, round_: int) -> RoundVerification:
        """Judge a posted round again and compare it with what the coordinator posted."""
        return verify_round(self.session, task_id, round_, self.workdir)

    def run(
        self, task_id: int, poll: float = 1.0, on_progress: Callable[[str], None] | None = None
    ) -> list[DisputeInfo]:
        """Guard the task's rounds until it is closed and every dispute it joined is paid;
        returns the disputes it took part in, decided."""
        say = on_progress or (lambda _: None)
        if not self.staked():
            self.stake()
            say("staked on the validator panel")
        judged: dict[int, RoundVerification] = {}
        joined: dict[int, DisputeInfo] = {}

        def judge(round_: int) -> RoundVerification:
            if round_ not in judged:
                judged[round_] = self.verify(task_id, round_)
                v = judged[round_]
                verdict = "agrees" if v.matches_posted else "DISAGREES"
                say(f"round {round_}: recomputed report {v.result.report_cid} {verdict}")
            return judged[round_]

        def step() -> bool | None:
            info = self.client.task(task_id)
            acted = False
            for round_ in range(info.current_round):
                acted |= self._guard(task_id, round_, judge, joined, say)
            if info.status is TaskStatus.CLOSED and not any(self._owed(task_id, r) for r in joined):
                return True
            return False if acted else None

        self._loop(step, poll, say)
        return [self.client.dispute(task_id, r) for r in sorted(joined)]

    def _guard(
        self,
        task_id: int,
        round_: int,
        judge: Callable[[int], RoundVerification],
        joined: dict[int, DisputeInfo],
        say: Callable[[str], None],
    ) -> bool:
        """One look at a round: challenge, vote, resolve or collect as its state asks.
        Returns whether it sent anything."""
        dispute = self.client.dispute(task_id, round_)
        stance = self.client.stance(task_id, round_, self.address)
        if stance["challenged"] or stance["vote"] != bytes(32):
            joined[round_] = dispute
        if dispute.outcome is DisputeOutcome.NONE:
            if self.client.round(task_id, round_).phase is not RoundPhase.CHALLENGE:
                return False
            verification = judge(round_)
            if verification.matches_posted:
                return False
            reason = f"recomputed report {verification.result.report_cid}"
            self.client.challenge(task_id, round_, reason)
            say(f"round {round_}: challenged")
            return True
        if dispute.outcome is DisputeOutcome.OPEN:
            now = self.client.market_time()
            if now >= dispute.vote_deadline:
                outcome = self.resolve(task_id, round_).outcome
                say(f"round {round_}: dispute resolved, {outcome.name.lower()}")
                return True
            if stance["vote"] == bytes(32) and self._eligible(dispute):
                self.vote(task_id, round_, judge(round_).ballot)
                joined[round_] = dispute
                say(f"round {round_}: voted for the recomputed result")
                return True
            return False
        paid = self.claim_payout(task_id, round_)
        if paid:
            say(f"round {round_}: dispute payout of {paid} wei booked")
        return bool(paid)

    def _eligible(self, dispute: DisputeInfo) -> bool:
        """Staked before the dispute opened (only such validators' votes count)."""
        stake, since = self.client.validator(self.address)
        opened = dispute.vote_deadline - self.client.rules().vote_duration
        return stake > 0 and since < opened

    def _owed(self, task_id: int, round_: int) -> int:
        return int(self.client.stance(task_id, round_, self.address)["owed"])

    def stake(self) -> TxReceipt:
        """Join the panel, locking the market's validator stake."""
        return self.client.stake_validator()

    def unstake(self) -> TxReceipt:
        """Leave the panel; the stake becomes withdrawable."""
        return self.client.unstake_validator()

    def staked(self) -> bool:
        """Whether this account sits on the panel."""
        return self.client.validator(self.address)[0] > 0

    def vote(self, task_id: int, round_: int, ballot: Ballot) -> TxReceipt:
        """Vote for ``ballot`` in the round's open dispute, locking its bond."""
        return self.client.vote(
            task_id,
            round_,
            ballot.credits_root,
            ballot.total_credited,
            ballot.slashes_digest,
            ballot.report_cid,
        )

    def posted_ballot(self, task_id: int, round_: int) -> Ballot:
        """The round's posted result as a ballot (what a validator votes for when its
        recomputation agrees with the coordinator)."""
        info = self.client.round(task_id, round_)
        posted = self.reader.get("RoundPosted", taskId=task_id, round=round_)
        report_cid = posted[-1]["args"]["reportCID"] if posted else ""
        return Ballot(info.credits_root, info.total_credited, info.slashes_digest, report_cid)

    def resolve(self, task_id: int, round_: int) -> DisputeInfo:
        """Decide the round's dispute once its vote is over; returns it decided."""
        self.client.resolve_dispute(task_id, round_)
        return self.client.dispute(task_id, round_)

    def claim_payout(self, task_id: int, round_: int) -> int:
        """Book what the decided dispute owes this account; returns the wei (0: nothing owed)."""
        owed = self._owed(task_id, round_)
        if owed:
            self.client.claim_dispute_payout(task_id, round_)
        return int(owed)

    def expire_credits(self, task_id: int, round_: int) -> tuple[int, TxReceipt]:
        """Send the credits of a final round still unclaimed after the claim window back to the
        funders (anyone may: a keeper's chore); returns the wei sent back and the receipt."""
        info = self.client.round(task_id, round_)
        receipt = self.client.expire_credits(task_id, round_)
        return info.total_credited - info.claimed_total, receipt

    def dispute(self, task_id: int, round_: int) -> DisputeInfo:
        """The round's dispute as the chain holds it."""
        return self.client.dispute(task_id, round_)

    @staticmethod
    def decided(dispute: DisputeInfo) -> bool:
        """Whether the dispute has an outcome."""
        return dispute.outcome not in (DisputeOutcome.NONE, DisputeOutcome.OPEN)
