"""The contributor's workflow for one round: fetch, search, train, publish, commit and reveal.

Every step can be repeated safely: joining is skipped when the slot is held, the round's
autoresearch resumes from its ledger, a checkpoint already trained for this round and parent is
reused from the work folder, and
:func:`~magnet_market.chain.submission.submit_checkpoint` resumes a half-done commit-reveal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from web3.types import TxReceipt

from magnet_market.app.content import fetch_spec, parent_cid, task_dataset
from magnet_market.app.ledger import TaskLedger, task_ledger
from magnet_market.app.moments import (
    forget_moments_before,
    keep_moments,
    latest_moments,
    round_folder,
)
from magnet_market.app.reports import load_posted
from magnet_market.app.role import Role
from magnet_market.app.session import Session
from magnet_market.app.swarm import (
    RoundStart,
    earlier_reports,
    round_start,
    shared_ledgers,
    swarm_place,
)
from magnet_market.autoresearch.config import describe
from magnet_market.autoresearch.shared import SharedLedger
from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.checkpoint import Checkpoint
from magnet_market.bitnet.model import build_model
from magnet_market.bitnet.train import train
from magnet_market.chain.errors import ContractRevertError
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.submission import Submitted, scale_metric, submit_checkpoint
from magnet_market.chain.types import DisputeOutcome, RoundPhase, TaskStatus
from magnet_market.errors import MagnetError
from magnet_market.tasks.data import TaskData, task_data
from magnet_market.tasks.spec import TaskSpec
from magnet_market.tuning import swarm_offset, tune

#: Seconds between looks for open tasks while ``run_auto`` waits for one or holds fewer than it
#: may (each look reads every task of the market).
LOOK_FOR_TASKS_EVERY = 30.0


class ContributorError(MagnetError, RuntimeError):
    """The contributor cannot take part in this round (task closed, parent missing)."""


@dataclass(frozen=True)
class ContributorSummary:
    """A contributor's whole participation in a task."""

    task_id: int
    rounds: tuple[RoundWork, ...]
    rewards: int
    withdrawn: int


@dataclass
class _TaskWork:
    """What this run did in one task so far."""

    task_id: int
    rounds: list[RoundWork] = field(default_factory=list)
    rewards: int = 0


@dataclass(frozen=True)
class RoundWork:
    """What a contributor did in one round."""

    task_id: int
    round: int
    parent_cid: str
    cid: str
    metric: float
    submitted: Submitted


class Contributor(Role):
    """One contributor account taking part in tasks (see :class:`~magnet_market.app.role.Role`).

    Args:
        swarm: take part in the swarm (``app/swarm.py``): start each round from the last
            winning recipe, use the ledgers earlier rounds published, start at the place's
            phase. ``False`` searches in isolation: from the spec's recipe, at the first phase,
            knowing only its own experiments (its ledger and recipe are published either way).
    """

    error = ContributorError

    def __init__(self, session: Session, workdir: Path | None = None, swarm: bool = True) -> None:
        super().__init__(session, workdir)
        self.swarm = swarm

    def search_folder(self, task_id: int, round_: int) -> Path:
        """Where round ``round_``'s search keeps its ledger (one folder of runs for all rounds,
        so ``magnet dashboard --runs`` shows them)."""
        return round_folder(self.workdir / "autoresearch", task_id, round_, self.address)

    def claim(self, task_id: int) -> tuple[int, TxReceipt]:
        """Take a slot in ``task_id``, locking its claim bond; returns the bond and receipt."""
        bond = self.client.task(task_id).claim_bond
        return bond, self.client.claim(task_id, bond)

    def submit(
        self,
        task_id: int,
        cid: str,
        metric: float | str,
        *,
        reveal_timeout: float = 3600.0,
        on_wait: Callable[[RoundPhase], None] | None = None,
    ) -> Submitted:
        """Commit to ``cid`` with a claimed ``metric``, wait for reveals, reveal (resumable)."""
        return submit_checkpoint(
            self.client,
            task_id,
            cid,
            scale_metric(metric),
            reveal_timeout=reveal_timeout,
            on_wait=on_wait,
        )

    def join(self, task_id: int) -> bool:
        """Claim a slot unless already holding one; returns whether a claim was sent."""
        if self.client.contributor(task_id, self.address)["joined"]:
            return False
        self.client.claim(task_id)
        return True

    def work_round(
        self,
        task_id: int,
        claim_bias: float = 0.0,
        corrupt: bool = False,
        on_progress: Callable[[str], None] | None = None,
    ) -> RoundWork:
        """Search and train on the current round's parent, publish, commit and reveal.

        Args:
            task_id: the task.
            claim_bias: added to the measured metric before claiming it. Honest contributors
                leave it at 0; the demo uses it to show a dishonest claim being slashed.
            corrupt: publish a truncated checkpoint (the demo's broken upload, rejected).
            on_progress: told what the round is doing (the search takes a while).
        """
        self.join(task_id)
        spec = fetch_spec(self.client, self.store, task_id)
        round_ = self.client.task(task_id).current_round
        if round_ >= spec.rounds:
            raise ContributorError(f"task {task_id} has no open round left")
        parent = parent_cid(self.reader, spec, task_id, round_)
        path = round_folder(self.workdir, task_id, round_, self.address).with_suffix(".safetensors")
        ckpt = checkpoint.load(path) if path.is_file() else None
        if ckpt is None or ckpt.parent_cid != parent:
            ckpt = self._train(spec, task_id, round_, parent, on_progress or (lambda _: None))
            ckpt.save(path)
            forget_moments_before(self.workdir, task_id, round_, self.address)
        metric = ckpt.metrics[spec.metric]
        cid = str(self.store.add_path(_truncated_copy(path) if corrupt else path))
        submitted = self.submit(task_id, cid, metric + claim_bias)
        return RoundWork(task_id, round_, parent, cid, metric, submitted)

    def claim_reward(
        self, task_id: int, round_: int, tree: CreditTree, beneficiary: str | None = None
    ) -> tuple[int, TxReceipt]:
        """Claim ``beneficiary``'s (default: our) credit in a round with its Merkle proof (paid
        at once when it is ours, booked to its balance otherwise).

        Raises:
            ContributorError: the tree credits nothing to that account.
        """
        who = beneficiary or self.address
        amount = tree.amount(who)
        if amount == 0:
            raise ContributorError(f"{who} has no credit in round {round_}'s tree")
        receipt = self.client.claim_reward(task_id, round_, who, amount, tree.proof(who))
        return amount, receipt

    def release_bond(self, task_id: int) -> TxReceipt:
        """Book what is left of our bond in a closed task (then withdraw)."""
        return self.client.release_bond(task_id)

    def withdraw(self) -> tuple[int, TxReceipt | None]:
        """Receive our whole withdrawable balance; returns the amount (nothing sent for 0)."""
        amount = self.client.withdrawable(self.address)
        return amount, self.client.withdraw() if amount else None

    def claim_rewards(self, task_id: int) -> int:
        """Claim every credited reward of final rounds not claimed yet (by the credits the round
        pays under, after any dispute): paid at once to our own account, booked when claimed for
        another; returns the wei claimed."""
        booked = 0
        ledger: TaskLedger | None = None
        for round_ in range(self.client.task(task_id).current_round):
            if self.client.round(task_id, round_).phase is not RoundPhase.FINAL:
                continue
            if self.client.reward_claimed(task_id, round_, self.address):
                continue
            ledger = ledger or task_ledger(task_id, self.reader.all(taskId=task_id))
            tree = load_posted(self.store, task_id, ledger.paid_under(round_)).tree
            if tree is not None and tree.amount(self.address):
                booked += self.claim_reward(task_id, round_, tree)[0]
        return booked

    def revert_slashes(self, task_id: int) -> int:
        """Take back our slashes of rounds a dispute overturned or voided; returns the wei."""
        returned = 0
        for round_ in range(self.client.task(task_id).current_round):
            slashed = self.client.submission(task_id, round_, self.address)["slashed_amount"]
            outcome = self.client.dispute(task_id, round_).outcome
            if slashed and outcome in (DisputeOutcome.OVERTURNED, DisputeOutcome.NO_QUORUM):
                self.client.revert_slash(task_id, round_, self.address)
                returned += slashed
        return returned

    def run(
        self,
        task_id: int,
        claim_bias: float = 0.0,
        poll: float = 1.0,
        on_progress: Callable[[str], None] | None = None,
        corrupt: bool = False,
    ) -> ContributorSummary:
        """Work every round of the task, then claim rewards, release the bond and withdraw.

        Returns once the task is closed and everything owed has been withdrawn.
        """
        say = on_progress or (lambda _: None)
        if self.join(task_id):
            say(f"joined task {task_id}")
        work = _TaskWork(task_id)
        self._loop(lambda: self._advance(work, say, claim_bias, corrupt), poll, say)
        return self._finish(work, say)

    def run_auto(
        self,
        open_tasks: Callable[[], list[int]],
        max_tasks: int = 1,
        poll: float = 1.0,
        on_progress: Callable[[str], None] | None = None,
        keep_watching: bool = False,
    ) -> list[ContributorSummary]:
        """Find work: join tasks from ``open_tasks()`` (the ones to prefer first) while fewer
        than ``max_tasks`` are held, work their rounds, and move on as they close.

        Restartable: the tasks an earlier run joined and did not finish (their claim bond is
        still held) are taken up again first. Returns the finished tasks once nothing held is
        unfinished and no open task is left (never, with ``keep_watching``).
        """
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be >= 1, got {max_tasks}")
        say = on_progress or (lambda _: None)
        held = {t: _TaskWork(t) for t in self.unfinished_tasks()}
        if held:
            say(f"taking up tasks {sorted(held)} again")
        done: list[ContributorSummary] = []
        next_look = 0.0  # listing open tasks reads every task: not at every poll

        def step() -> bool | None:
            nonlocal next_look
            if len(held) < max_tasks and time.monotonic() >= next_look:
                self._take(open_tasks(), held, max_tasks, say)
                next_look = time.monotonic() + LOOK_FOR_TASKS_EVERY
            for work in list(held.values()):
                outcome = self._advance(work, say)
                if outcome is True:
                    done.append(self._finish(work, say))
                    del held[work.task_id]
                    next_look = 0.0  # a free place: look for the next task at once
                if outcome is not None:
                    return False  # something happened: look again at once
            return None if held or keep_watching else True

        self._loop(step, poll, say)
        return done

    def unfinished_tasks(self) -> list[int]:
        """Tasks this account joined whose claim bond is still held (not yet finished)."""
        joined = self.reader.get("ContributorJoined", contributor=self.address)
        tasks = sorted({int(e["args"]["taskId"]) for e in joined})
        return [t for t in tasks if self.client.contributor(t, self.address)["bond"]]

    def _take(
        self,
        candidates: list[int],
        held: dict[int, _TaskWork],
        most: int,
        say: Callable[[str], None],
    ) -> None:
        """Join candidates, in order, until ``most`` tasks are held; a task that filled up or
        moved on since it was listed is skipped."""
        for task_id in candidates:
            if len(held) >= most:
                return
            if task_id in held:
                continue
            try:
                if self.join(task_id):
                    say(f"joined task {task_id}")
            except ContractRevertError as e:
                say(f"task {task_id} not joined: {e}")
                continue
            held[task_id] = _TaskWork(task_id)

    def _advance(
        self,
        work: _TaskWork,
        say: Callable[[str], None],
        claim_bias: float = 0.0,
        corrupt: bool = False,
    ) -> bool | None:
        """One step in a task: work its round if it takes our submission (False), else claim
        what is owed; True once the task is closed, None while there is nothing to do yet."""
        task_id = work.task_id
        info = self.client.task(task_id)
        if info.status is TaskStatus.OPEN and self._should_work(task_id, info.current_round):
            done = self.work_round(task_id, claim_bias, corrupt, say)
            say(f"task {task_id} round {done.round}: revealed {done.cid} ({done.metric:.4f})")
            work.rounds.append(done)
            return False
        booked = self.claim_rewards(task_id)
        if booked:
            say(f"task {task_id}: reward claimed: {booked} wei")
        work.rewards += booked
        return True if info.status is TaskStatus.CLOSED else None

    def _finish(self, work: _TaskWork, say: Callable[[str], None]) -> ContributorSummary:
        """The task is closed: take back overturned slashes, the bond, and withdraw."""
        task_id = work.task_id
        if self.revert_slashes(task_id):
            say(f"task {task_id}: slashes of overturned rounds given back")
        if self.client.contributor(task_id, self.address)["bond"]:
            self.release_bond(task_id)
        withdrawn, _ = self.withdraw()
        say(f"task {task_id}: withdrew {withdrawn} wei")
        return ContributorSummary(task_id, tuple(work.rounds), work.rewards, withdrawn)

    def _should_work(self, task_id: int, round_: int) -> bool:
        """This round still takes our submission and we have not revealed one."""
        info = self.client.task(task_id)
        if (
            round_ >= info.rounds
            or self.client.contributor(task_id, self.address)["first_round"] > round_
        ):
            return False
        sub = self.client.submission(task_id, round_, self.address)
        phase = self.client.round(task_id, round_).phase
        committed = sub["commitment"] != bytes(32)
        return not sub["revealed"] and (
            phase is RoundPhase.SUBMITTING or (committed and phase is RoundPhase.REVEALING)
        )

    def training_data(self, spec: TaskSpec, dataset: Path | None) -> TaskData:
        """The data this contributor trains its round on: the task's training split (the
        validation split is for its search and its claim)."""
        return task_data(spec, dataset)

    def _train(
        self, spec: TaskSpec, task_id: int, round_: int, parent: str, say: Callable[[str], None]
    ) -> Checkpoint:
        folder = round_folder(self.workdir, task_id, round_, self.address)
        parent_path = folder / "parent.safetensors"
        self.store.get_to_path(parent, parent_path)  # verified against its CID while streaming
        base = checkpoint.load(parent_path)
        # A seed of our own per round: contributors explore different batches of the same data.
        seed = int.from_bytes(bytes.fromhex(self.address[2:10]), "big") + round_
        if spec.search.trials:
            say(f"round {round_}: autoresearch, {spec.search.trials} trials")
        dataset = task_dataset(self.store, spec)
        start, shared, offset = RoundStart(None, "spec"), [], 0
        if self.swarm:
            place = swarm_place(self.reader, task_id, self.address)
            reports = earlier_reports(self.store, self.reader, task_id, round_)
            shared = shared_ledgers(self.store, spec, reports, parent)
            start = round_start(spec, reports, place, shared)
            offset = swarm_offset(spec, place)
        if start.refused:
            say(f"round {round_}: {start.refused}; starting from the spec's recipe")
        elif start.config is not None:
            say(f"round {round_}: starting from {start.source}")
        if shared:
            say(f"round {round_}: {_shared_summary(shared)}")
        recipe = tune(
            spec,
            parent_path,
            self.search_folder(task_id, round_),
            seed,
            dataset_dir=dataset,
            start=start.config,
            shared=shared,
            offset=offset,
        )
        if recipe.set_aside:
            say(
                f"round {round_}: the search folder held a search this version runs "
                f"differently; moved it to {recipe.set_aside} and searched again"
            )
        if recipe.experiments:
            kept = describe(recipe.changes) if recipe.changes else "the default recipe"
            say(
                f"round {round_}: search kept {kept} "
                f"({spec.metric} {recipe.default_metric:.4f} -> {recipe.best_metric:.4f})"
            )
        found = latest_moments(self.workdir, task_id, round_, self.address)
        if found.refused:
            say(f"round {round_}: {found.refused}; a fresh optimizer instead")
        carried = found.moments
        since = f" on its AdamW moments of round {carried.round}" if carried else ""
        say(f"round {round_}: training {spec.inner_steps} steps{since}")
        model = build_model(base.config)
        checkpoint.load_into(model, base)
        torch.manual_seed(seed)
        cfg = recipe.train_config(spec.inner_steps, seed)
        result = train(
            model,
            self.training_data(spec, dataset),
            cfg,
            resume=carried.resume_from(base) if carried else None,
            parent_cid=parent,
            keep_optimizer=True,
        )
        keep_moments(
            self.workdir, task_id, round_, self.address, result.optimizer_state, base.config
        )
        submission = {"task_id": task_id, "round": round_, "author": self.address}
        # published with the checkpoint, whose CID binds it (``diloco.published``)
        ledger = str(self.store.add_path(recipe.ledger)) if recipe.ledger else None
        search = {**recipe.summary(), "ledger": ledger, "started_from": start.source}
        return checkpoint.from_model(
            model,
            step=result.step,
            parent_cid=parent,
            metrics=result.metrics,
            extra={
                "submission": json.dumps(submission, sort_keys=True),
                "train": cfg.to_json(),
                "search": json.dumps(search, sort_keys=True),
            },
        )


def _shared_summary(shared: list[SharedLedger]) -> str:
    """``12 shared experiments from 3 ledgers (2 rows refused: row 4: not JSON; ...)``."""
    text = f"{sum(len(s.records) for s in shared)} shared experiments from {len(shared)} ledgers"
    refused = [f"{s.source}: {reason}" for s in shared for reason in s.refused]
    if refused:
        text += f" ({len(refused)} rows refused: {'; '.join(refused[:3])})"
    return text


def _truncated_copy(path: Path) -> Path:
    """The first half of ``path``'s bytes beside it (the demo's corrupt upload)."""
    data = path.read_bytes()
    broken = path.with_suffix(".truncated")
    broken.write_bytes(data[: len(data) // 2])
    return broken
