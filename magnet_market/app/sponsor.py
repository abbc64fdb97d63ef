"""The sponsor's workflow: validate a task's terms, publish its spec and base checkpoint, fund
it, and reveal each round's holdout key on time (``HoldoutRevealer``, ``magnet sponsor run``).

Order matters for "loses nothing": everything is validated and pinned before any ether moves,
so a bad spec, bad terms or an unreachable store fail with no transaction sent. Both ways of
creating a task (a spec file, or the CID of a spec pinned earlier) pass the same checks: the
market terms are a spec's ``market`` section, validated by one schema (``parse_market``). A task
on a dataset with a sealed holdout puts the key chain's head on chain with a bond per round, and
only after checking that this sponsor holds the keys and that no task sealed that head before
(its revealed slices are public).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_utils import is_address, to_checksum_address
from web3.types import TxReceipt

from magnet_market.app.content import fetch_spec
from magnet_market.app.datasets import fetch_dataset, load_manifest
from magnet_market.app.holdout_keys import load_keys
from magnet_market.app.role import Role
from magnet_market.app.session import Session
from magnet_market.bitnet.checkpoint import Checkpoint, load
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.chain.errors import RoundWrongPhase
from magnet_market.chain.types import (
    HoldoutTerms,
    RoundPhase,
    SlashRates,
    TaskInfo,
    TaskStatus,
    Timing,
)
from magnet_market.datasets import DatasetManifest
from magnet_market.datasets.seal import links_to
from magnet_market.errors import MagnetError
from magnet_market.storage import CID, InvalidCIDError, StorageError
from magnet_market.tasks.spec import (
    Market,
    SpecError,
    TaskSpec,
    base_checkpoint,
    brought_base,
    fit_to_dataset,
    parse_market,
    spec_from_bytes,
)


class SponsorError(MagnetError, RuntimeError):
    """The sponsor cannot act on this task (no sealed holdout, keys that do not match it)."""


@dataclass(frozen=True)
class PublishedTask:
    """Where a new task lives: on chain, and its spec and base checkpoint in storage."""

    task_id: int
    spec_cid: str
    base_cid: str | None
    bounty: int
    receipt: TxReceipt


class Sponsor:
    """Posts and funds tasks, and takes back what is left of them.

    Args:
        session: the sponsor's session (it signs and pays).
        keys_home: where its holdout keys are (default ``$MAGNET_HOME``).
    """

    def __init__(self, session: Session, keys_home: Path | None = None) -> None:
        self.session = session
        self.keys_home = keys_home

    def publish(
        self,
        spec: TaskSpec,
        coordinator: str | None = None,
        bounty: int | None = None,
        base: Path | None = None,
    ) -> PublishedTask:
        """Check the terms (and the dataset, for a dataset task: every shard is fetched and
        checked, and the model takes the dataset's shape), pin the base checkpoint and the spec,
        then create and fund the task.

        Args:
            spec: a validated spec (``load_spec``).
            coordinator: the address that will merge rounds and pay out (default: the sponsor).
            bounty: wei to escrow; default: the spec's ``market.bounty``.
            base: a checkpoint of the spec's model to train on (one the sponsor trained before;
                its weights alone are pinned); default: the model freshly initialised.

        Raises:
            SponsorError: ``base`` is no checkpoint, or not one of the spec's model.
        """
        terms = (
            spec.market
            if bounty is None
            else parse_market({**spec.market.model_dump(), "bounty": bounty})
        )
        who = self._check(spec.rounds, terms, coordinator)
        store = self.session.store
        holdout = None
        if spec.dataset:  # every shard fetched and checked; the model shaped by the data
            manifest = fetch_dataset(store, spec.dataset).manifest
            holdout = self._holdout(spec.dataset, manifest, spec.rounds, terms)
            spec = fit_to_dataset(spec, manifest)
        start = base_checkpoint(spec) if base is None else _brought_base(spec, base)
        base_cid = str(store.add_bytes(start.to_bytes()))
        pinned = spec.model_copy(update={"base_cid": base_cid})
        spec_cid = str(store.add_bytes(pinned.canonical_json()))
        task_id, receipt = self._send(spec_cid, spec.rounds, terms, who, holdout)
        return PublishedTask(task_id, spec_cid, base_cid, terms.bounty, receipt)

    def create(
        self, spec_cid: str, rounds: int, terms: Market, coordinator: str | None = None
    ) -> PublishedTask:
        """Create and fund a task whose spec is already pinned at ``spec_cid``.

        A spec this session's store holds is read: one that is not a spec is refused, and one on
        a dataset with a sealed holdout seals the task (as ``publish`` does). A spec the store
        lacks (pinned on another node) is taken as the contract takes it, without a holdout.

        Raises:
            SpecError: the CID or the coordinator address is malformed, the spec is not a spec,
                rounds are out of range, or the terms are below the market's floors.
        """
        try:
            CID.parse(spec_cid)
        except InvalidCIDError as e:
            raise SpecError(f"spec CID {spec_cid!r} is not a CID: {e}") from None
        who = self._check(rounds, terms, coordinator)
        try:
            spec: TaskSpec | None = spec_from_bytes(self.session.store.get(spec_cid))
        except StorageError:
            spec = None  # pinned on another node: created as the contract takes it, unsealed
        holdout = None
        if spec is not None and spec.dataset:
            manifest = load_manifest(self.session.store, spec.dataset)
            holdout = self._holdout(spec.dataset, manifest, rounds, terms)
        task_id, receipt = self._send(spec_cid, rounds, terms, who, holdout)
        return PublishedTask(task_id, spec_cid, None, terms.bounty, receipt)

    def _holdout(
        self, dataset: str, manifest: DatasetManifest, rounds: int, terms: Market
    ) -> HoldoutTerms | None:
        """The holdout terms of a task on ``dataset`` (``None`` unless its holdout is sealed),
        once the sponsor is known to hold the keys and the head to be unused."""
        if manifest.seal is None:
            return None
        if manifest.slices < rounds:
            raise SpecError(
                f"dataset {dataset} seals {manifest.slices} holdout slices, one per round, and "
                f"the task has {rounds} rounds: pack it with --holdout-slices {rounds}"
            )
        load_keys(dataset, manifest, self.keys_home)
        head = manifest.seal.head_bytes
        for e in self.session.events.get("HoldoutSealed"):
            if bytes(e["args"]["head"]) == head:
                raise SpecError(
                    f"task {e['args']['taskId']} already sealed dataset {dataset}'s holdout: its "
                    "revealed slices are public; pack the data again for a new task"
                )
        return HoldoutTerms(head, terms.timing.holdout, terms.holdout_bond)

    def _check(self, rounds: int, terms: Market, coordinator: str | None) -> str:
        """Everything the contract would refuse, before anything is pinned or sent; returns the
        coordinator's checksummed address."""
        if not 1 <= rounds <= 120:
            raise SpecError(f"rounds must be 1 to 120, got {rounds}")
        who = coordinator or self.session.address
        if not is_address(who):
            raise SpecError(f"coordinator {who!r} is not an address (0x and 40 hex digits)")
        below = self.session.market.floors().admits(_timing(terms), terms.claim_bond)
        if below:
            lines = "\n".join(f"  market.{line}" for line in below)
            raise SpecError(f"the market's floors refuse these terms:\n{lines}")
        return to_checksum_address(who)

    def _send(
        self,
        spec_cid: str,
        rounds: int,
        terms: Market,
        coordinator: str,
        holdout: HoldoutTerms | None,
    ) -> tuple[int, TxReceipt]:
        return self.session.signing_market.create_task(
            spec_cid,
            coordinator,
            rounds,
            terms.bounty,
            terms.claim_bond,
            terms.max_contributors,
            _timing(terms),
            SlashRates(terms.timeout_bps, terms.dishonest_claim_bps, terms.bad_verification_bps),
            holdout,
        )

    def fund(self, task_id: int, amount: int) -> TxReceipt:
        """Add ``amount`` wei to a task's escrow."""
        return self.session.signing_market.fund(task_id, amount)

    def close(self, task_id: int) -> TxReceipt:
        """Close a task (cancel, all rounds done, or a stalled coordinator)."""
        return self.session.signing_market.close_task(task_id)

    def refund(self, task_id: int) -> TxReceipt:
        """Book this funder's refund of a closed task (then withdraw)."""
        return self.session.signing_market.claim_refund(task_id)

    def task(self, task_id: int) -> TaskInfo:
        """The task as the contract holds it."""
        return self.session.market.task(task_id)


def _timing(terms: Market) -> Timing:
    """The chain's phase lengths of a spec's market terms."""
    t = terms.timing
    return Timing(t.submit, t.reveal, t.merge, t.challenge)


class HoldoutRevealer(Role):
    """Reveals each round's holdout key once the round's submissions are fixed
    (``magnet sponsor run``). Restartable: what is revealed is read from the chain every step.
    """

    error = SponsorError

    def keys(self, task_id: int) -> list[bytes]:
        """The task's holdout keys, from the sponsor's keys file of the task's dataset."""
        if not self.client.holdout(task_id).sealed:
            raise SponsorError(f"task {task_id} has no sealed holdout: nothing to reveal")
        spec = fetch_spec(self.client, self.store, task_id)
        assert spec.dataset is not None  # a sealed task has a dataset
        return load_keys(spec.dataset, load_manifest(self.store, spec.dataset))

    def reveal_due(self, task_id: int, keys: list[bytes]) -> int | None:
        """Reveal the current round's key if its round is unsealing; returns the round revealed."""
        info = self.client.task(task_id)
        round_ = info.current_round
        if info.status is not TaskStatus.OPEN or round_ >= info.rounds:
            return None
        if self.client.round(task_id, round_).phase is not RoundPhase.UNSEALING:
            return None
        holdout = self.client.holdout(task_id)
        if not links_to(keys[round_], round_, holdout.last_key, holdout.revealed_through):
            raise SponsorError(f"the keys on this machine are not task {task_id}'s holdout keys")
        self.client.reveal_holdout(task_id, keys[round_])
        return round_

    def run(
        self, task_id: int, poll: float = 1.0, on_progress: Callable[[str], None] | None = None
    ) -> list[int]:
        """Reveal every round's key on time until the task is closed or its last round posted;
        returns the rounds revealed by this run."""
        say = on_progress or (lambda _: None)
        keys = self.keys(task_id)
        revealed: list[int] = []

        def step() -> bool | None:
            info = self.client.task(task_id)
            if info.status is not TaskStatus.OPEN or info.current_round >= info.rounds:
                return True
            try:
                round_ = self.reveal_due(task_id, keys)
            except RoundWrongPhase:  # the window closed between the read and the send
                say(f"round {info.current_round}: the holdout window closed before the key")
                return None
            if round_ is None:
                return None
            say(f"round {round_}: holdout key revealed")
            revealed.append(round_)
            return False

        self._loop(step, poll, say)
        return revealed


def _brought_base(spec: TaskSpec, path: Path) -> Checkpoint:
    try:
        return brought_base(spec, load(path))
    except (CheckpointError, SpecError, OSError) as e:
        raise SponsorError(f"{path}: {e}") from None
