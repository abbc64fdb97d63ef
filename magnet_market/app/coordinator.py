"""The merge coordinator's round: fetch, verify, merge (DiLoCo), credit, slash, pin, post.

Restartable by construction: the round to work on, its parent and its submissions all come from
the chain's events and the content store; verification and merging are deterministic, so a
coordinator killed half-way recomputes the same merged CID and report CID. Slashes are applied
before posting and skipped when the contract already records them, and a posted round moves the
chain to the next one, so nothing is ever slashed, posted or paid twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from web3.types import TxReceipt

from magnet_market.app.content import fetch_spec, parent_cid
from magnet_market.app.reports import pin_report
from magnet_market.app.role import Role
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import METRIC_SCALE, RoundPhase, SlashReason, TaskStatus
from magnet_market.diloco import (
    Metric,
    RoundConfig,
    RoundReport,
    Submission,
    VerifyRules,
    run_round,
    with_merged_cid,
)
from magnet_market.errors import MagnetError
from magnet_market.storage import StorageError
from magnet_market.tasks.data import task_data
from magnet_market.tasks.spec import TaskSpec

#: Failed checks that mean the work itself is bad (slashed), as opposed to merely unlucky.
#: A failed fetch is not among them: the coordinator's own network may be at fault.
BAD_WORK_CHECKS = frozenset(
    {"safetensors", "kind", "config", "tensors", "parent", "finite", "update_norm", "work"}
)


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
    slashed: tuple[tuple[str, SlashReason], ...]


def credit_tree(credits: dict[str, int]) -> CreditTree | None:
    """The Merkle tree of a round's positive credits (``None`` when nobody is credited)."""
    positive = [(who, amount) for who, amount in credits.items() if amount > 0]
    return CreditTree.of(positive) if positive else None


def round_config(spec: TaskSpec) -> RoundConfig:
    """The verification and merge rules of ``spec``'s rounds."""
    rules = VerifyRules(
        metric=Metric(spec.metric, higher_is_better=not spec.lower_is_better),
        claim_tolerance=spec.verification.claim_tolerance,
        regression_tolerance=spec.verification.regression_tolerance,
        max_steps=spec.inner_steps,
    )
    return RoundConfig(rules=rules)


class Coordinator(Role):
    """Merges the rounds of the tasks it coordinates (see :class:`~magnet_market.app.role.Role`)."""

    error = CoordinatorError

    def ready(self, task_id: int) -> bool:
        """Whether the task's current round waits for a merge now."""
        info = self.client.task(task_id)
        if info.status is not TaskStatus.OPEN or info.current_round >= info.rounds:
            return False
        return self.client.round(task_id, info.current_round).phase is RoundPhase.MERGING

    def merge_round(self, task_id: int) -> PostedRound:
        """Verify, merge, credit, slash and post the current round (it must be merging)."""
        info = self.client.task(task_id)
        assert self.client.signer is not None
        if info.coordinator != self.client.signer.address:
            raise CoordinatorError(
                f"{self.client.signer.address} does not coordinate task {task_id}"
            )
        if not self.ready(task_id):
            raise CoordinatorError(f"task {task_id} has no round waiting for a merge")
        spec = fetch_spec(self.client, self.store, task_id)
        round_ = info.current_round
        parent = parent_cid(self.reader, spec, task_id, round_)
        folder = self.workdir / f"task{task_id}" / f"round{round_}"
        parent_path = self.store.get_to_path(parent, folder / "parent.safetensors")
        submissions = [self._fetch(e["args"], folder) for e in self._reveals(task_id, round_)]
        reward = info.escrow // (info.rounds - round_)
        data = task_data(spec)
        outcome = run_round(
            task_id=task_id,
            round_index=round_,
            parent_path=parent_path,
            parent_cid=parent,
            model_config=spec.model_config_obj(),
            submissions=submissions,
            evaluate=data.evaluate,
            reward_wei=reward,
            out=folder / "merged.safetensors",
            config=round_config(spec),
        )
        merged_cid = (
            str(self.store.add_path(outcome.merged_path))
            if outcome.merged_path is not None
            else parent  # nothing accepted: the parent carries over
        )
        report = with_merged_cid(outcome.report, merged_cid)
        credits = {s.author: s.credit_wei for s in report.submissions if s.credit_wei > 0}
        tree = credit_tree(credits)
        report_cid = pin_report(self.store, report, tree)
        slashed = self._slash(task_id, round_, report)
        self.post(task_id, merged_cid, report_cid, tree)
        return PostedRound(
            task_id, round_, merged_cid, report_cid, report.credited_wei, report, slashed
        )

    def post(
        self, task_id: int, merged_cid: str, report_cid: str, tree: CreditTree | None
    ) -> TxReceipt:
        """Post the current round: its merge, its report and the Merkle root of its credits."""
        root = tree.root if tree else bytes(32)
        total = sum(amount for _, amount in tree.values) if tree else 0
        return self.client.post_round(task_id, merged_cid, report_cid, root, total)

    def slash(self, task_id: int, round_: int, contributor: str, reason: SlashReason) -> TxReceipt:
        """Slash ``contributor``'s bond for ``reason`` in a round."""
        return self.client.slash(task_id, round_, contributor, reason)

    def run(
        self, task_id: int, poll: float = 1.0, on_progress: Callable[[str], None] | None = None
    ) -> list[PostedRound]:
        """Merge every round as it becomes ready, then close the task once the last is final."""
        say = on_progress or (lambda _: None)
        posted: list[PostedRound] = []

        def step() -> bool | None:
            info = self.client.task(task_id)
            if info.status is not TaskStatus.OPEN:
                return True
            if self.ready(task_id):
                say(f"round {info.current_round}: merging")
                done = self.merge_round(task_id)
                say(
                    f"round {done.round}: posted {done.merged_cid} "
                    f"(metric {done.report.merged_metric}), credited {done.total_credited} wei"
                )
                posted.append(done)
                return False
            if info.current_round == info.rounds and self._settled(task_id, info.rounds):
                self.client.close_task(task_id)
                say(f"task {task_id} closed")
                return True
            return None

        self._loop(step, poll, say)
        return posted

    def _settled(self, task_id: int, rounds: int) -> bool:
        """Every round is past its challenge window and no challenge waits for the owner."""
        settled = (RoundPhase.FINAL, RoundPhase.VOIDED)
        return all(self.client.round(task_id, r).phase in settled for r in range(rounds))

    def _reveals(self, task_id: int, round_: int) -> list:
        return self.reader.get("SubmissionRevealed", taskId=task_id, round=round_)

    def _fetch(self, reveal: dict, folder: Path) -> Submission:
        """Fetch a revealed checkpoint (verified against its CID) to a file for verification."""
        author, cid = reveal["contributor"], reveal["cid"]
        path = folder / f"{author}.safetensors"
        fetch_error = None
        try:
            self.store.get_to_path(cid, path)
        except StorageError as e:
            fetch_error = f"could not fetch {cid}: {type(e).__name__}: {e}"
        return Submission(
            cid=cid,
            author=author,
            path=path,
            claimed_metric=reveal["claimedMetric"] / METRIC_SCALE,
            fetch_error=fetch_error,
        )

    def _slash(
        self, task_id: int, round_: int, report: RoundReport
    ) -> tuple[tuple[str, SlashReason], ...]:
        due: list[tuple[str, SlashReason]] = []
        for s in report.submissions:
            failed = {c.name for c in s.checks if not c.passed}
            if s.status == "dishonest":
                due.append((s.author, SlashReason.DISHONEST_CLAIM))
            elif failed & BAD_WORK_CHECKS:
                due.append((s.author, SlashReason.BAD_VERIFICATION))
        revealed = {s.author for s in report.submissions}
        for e in self.reader.get("ContributorJoined", taskId=task_id):
            who = e["args"]["contributor"]
            joined = self.client.contributor(task_id, who)
            if who not in revealed and joined["first_round"] <= round_:
                due.append((who, SlashReason.TIMEOUT))
        applied = []
        for who, reason in due:
            mask = self.client.submission(task_id, round_, who)["slashed_mask"]
            if mask & (1 << int(reason)):
                continue  # applied before a restart
            self.slash(task_id, round_, who, reason)
            applied.append((who, reason))
        return tuple(applied)
