"""The sponsor's workflow: validate a task's terms, publish its spec and base checkpoint, fund it.

Order matters for "loses nothing": everything is validated and pinned before any ether moves,
so a bad spec, bad terms or an unreachable store fail with no transaction sent. Both ways of
creating a task (a spec file, or the CID of a spec pinned earlier) pass the same checks: the
market terms are a spec's ``market`` section, validated by one schema (``parse_market``).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address
from web3.types import TxReceipt

from magnet_market.app.datasets import fetch_dataset
from magnet_market.app.session import Session
from magnet_market.chain.types import SlashRates, TaskInfo, Timing
from magnet_market.storage import CID, InvalidCIDError
from magnet_market.tasks.spec import (
    Market,
    SpecError,
    TaskSpec,
    base_checkpoint,
    fit_to_dataset,
    parse_market,
)


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
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def publish(
        self, spec: TaskSpec, coordinator: str | None = None, bounty: int | None = None
    ) -> PublishedTask:
        """Check the terms (and the dataset, for a dataset task: every shard is fetched and
        checked, and the model takes the dataset's shape), pin the base checkpoint and the spec,
        then create and fund the task.

        Args:
            spec: a validated spec (``load_spec``).
            coordinator: the address that will merge rounds and pay out (default: the sponsor).
            bounty: wei to escrow; default: the spec's ``market.bounty``.
        """
        terms = (
            spec.market
            if bounty is None
            else parse_market({**spec.market.model_dump(), "bounty": bounty})
        )
        who = self._check(spec.rounds, terms, coordinator)
        store = self.session.store
        if spec.dataset:  # every shard fetched and checked; the model shaped by the data
            spec = fit_to_dataset(spec, fetch_dataset(store, spec.dataset).manifest)
        base_cid = str(store.add_bytes(base_checkpoint(spec).to_bytes()))
        pinned = spec.model_copy(update={"base_cid": base_cid})
        spec_cid = str(store.add_bytes(pinned.canonical_json()))
        task_id, receipt = self._send(spec_cid, spec.rounds, terms, who)
        return PublishedTask(task_id, spec_cid, base_cid, terms.bounty, receipt)

    def create(
        self, spec_cid: str, rounds: int, terms: Market, coordinator: str | None = None
    ) -> PublishedTask:
        """Create and fund a task whose spec is already pinned at ``spec_cid``.

        Raises:
            SpecError: the CID or the coordinator address is malformed, rounds are out of range,
                or the terms are below the market's floors.
        """
        try:
            CID.parse(spec_cid)
        except InvalidCIDError as e:
            raise SpecError(f"spec CID {spec_cid!r} is not a CID: {e}") from None
        who = self._check(rounds, terms, coordinator)
        task_id, receipt = self._send(spec_cid, rounds, terms, who)
        return PublishedTask(task_id, spec_cid, None, terms.bounty, receipt)

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
        self, spec_cid: str, rounds: int, terms: Market, coordinator: str
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
