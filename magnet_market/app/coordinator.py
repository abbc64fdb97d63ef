"""The merge coordinator's round: fetch, verify, merge (DiLoCo), credit, slash, pin, stake, post.

Restartable by construction: the round to work on, its parent and its submissions all come from
the chain's events and the content store; verification and merging are deterministic, so a
coordinator killed half-way recomputes the same merged CID and report CID. Slashes travel in the
same transaction as the post, and a posted round moves the chain to the next one, so nothing is
ever slashed, posted or paid twice. Before posting, the coordinator tops its stake up to what the
round needs: a dispute that overturns the round takes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from eth_account import Account
from web3.types import TxReceipt

from magnet_market.app.judging import judge_round
from magnet_market.app.reports import pin_report
from magnet_market.app.role import Role
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import RoundPhase, SlashOrder, TaskStatus
from magnet_market.diloco import RoundReport
from magnet_market.errors import MagnetError


class CoordinatorError(MagnetError, RuntimeError):
    """The coordinator cannot merge this task (not its coordinator, task closed)."""


@dataclass(frozen=True)
class PostedRound:
    """What the coordinator published for a round."""

    task_id: int
    round: int
    merged_cid: str
    report_cid: str
    total_credited: int
    report: RoundReport
    slashed: tuple[SlashOrder, ...]


class Coordinator(Role):
    """Merges the rounds of the tasks it coordinates (see :class:`~magnet_market.app.role.Role`)."""

    error = CoordinatorError

    def ready(self, task_id: int) -> bool:
        """Whether the task's current round waits for a merge now."""
        info = self.client.task(task_id)
        if info.status is not TaskStatus.OPEN or info.current_round >= info.rounds:
            return False
        return self.client.round(task_id, info.current_round).phase is RoundPhase.MERGING

    def merge_round(self, task_id: int, credit_sybil: bool = False) -> PostedRound:
        """Verify, merge, credit, slash and post the current round (it must be merging).

        ``credit_sybil`` plays a dishonest coordinator (the demo, tests): the round's whole
        budget is credited to a fresh address that never took part, with a report to match.
        """
        info = self.client.task(task_id)
        assert self.client.signer is not None
        if info.coordinator != self.client.signer.address:
            raise CoordinatorError(
                f"{self.client.signer.address} does not coordinate task {task_id}"
            )
        if not self.ready(task_id):
            raise CoordinatorError(f"task {task_id} has no round waiting for a merge")
        round_ = info.current_round
        forfeit = self.client.holdout(task_id).forfeit(round_)  # posted without its holdout key
        reward = info.escrow // (info.rounds - round_) + forfeit
        result = judge_round(
            self.client, self.store, self.reader, self.workdir, task_id, round_, reward
        )
        if credit_sybil:
            tree = CreditTree.of([(Account.create().address, reward)])
            result = replace(
                result, tree=tree, report_cid=pin_report(self.store, result.report, tree)
            )
        self.stake_for(task_id)
        self.post(task_id, result.merged_cid, result.report_cid, result.tree, result.slashes)
        return PostedRound(
            task_id,
            round_,
            result.merged_cid,
            result.report_cid,
            result.total_credited,
            result.report,
            result.slashes,
        )

    def post(
        self,
        task_id: int,
        merged_cid: str,
        report_cid: str,
        tree: CreditTree | None,
        slashes: tuple[SlashOrder, ...] = (),
    ) -> TxReceipt:
        """Post the current round: its merge, its report, the Merkle root of its credits and
        its slashes."""
        root = tree.root if tree else bytes(32)
        total = tree.total if tree else 0
        return self.client.post_round(task_id, merged_cid, report_cid, root, total, slashes)

    def stake_for(self, task_id: int) -> int:
        """Top the coordinator's stake in the task up to what posting its current round needs;
        returns the wei added (0 when the stake already covers it)."""
        info = self.client.task(task_id)
        needed = self.client.rules().stake_needed(info.escrow, info.rounds - info.current_round)
        missing = needed - info.coordinator_stake
        if missing <= 0:
            return 0
        self.stake(task_id, missing)
        return missing

    def stake(self, task_id: int, amount: int) -> TxReceipt:
        """Add ``amount`` wei to the coordinator's stake in the task."""
        return self.client.stake_coordinator(task_id, amount)

    def release_stake(self, task_id: int) -> TxReceipt:
        """Book the stake of a closed task back to the coordinator."""
        return self.client.release_stake(task_id)

    def run(
        self,
        task_id: int,
        poll: float = 1.0,
        on_progress: Callable[[str], None] | None = None,
        sybil_rounds: frozenset[int] = frozenset(),
    ) -> list[PostedRound]:
        """Merge every round as it becomes ready, close the task once the last is final, and take
        the stake back. Rounds in ``sybil_rounds`` are posted dishonestly (see ``merge_round``)."""
        say = on_progress or (lambda _: None)
        posted: list[PostedRound] = []

        def step() -> bool | None:
            info = self.client.task(task_id)
            if info.status is not TaskStatus.OPEN:
                if info.coordinator_stake:
                    self.release_stake(task_id)
                    say(f"task {task_id}: stake of {info.coordinator_stake} wei released")
                return True
            if self.ready(task_id):
                say(f"round {info.current_round}: merging")
                sybil = info.current_round in sybil_rounds
                done = self.merge_round(task_id, credit_sybil=sybil)
                attempts = done.report.merge_attempts
                if len(attempts) > 1:
                    tried = ", ".join(f"{a.step} {a.metric:.4f}" for a in attempts)
                    say(
                        f"round {done.round}: merge guard kept the {done.report.merge_step} step "
                        f"(measured {tried}: the outer step was worse than the best contribution)"
                    )
                say(
                    f"round {done.round}: posted {done.merged_cid} "
                    f"(metric {done.report.merged_metric}), credited {done.total_credited} wei"
                )
                posted.append(done)
                return False
            if info.current_round == info.rounds and self._settled(task_id, info.rounds):
                self.client.close_task(task_id)
                say(f"task {task_id} closed")
                return False  # next step releases the stake
            return None

        self._loop(step, poll, say)
        return posted

    def _settled(self, task_id: int, rounds: int) -> bool:
        """Every round is past its challenge window and no challenge waits for the owner."""
        settled = (RoundPhase.FINAL, RoundPhase.VOIDED)
        return all(self.client.round(task_id, r).phase in settled for r in range(rounds))
