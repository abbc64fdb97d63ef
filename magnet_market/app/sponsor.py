"""The sponsor's workflow: validate a task spec, publish it with its base checkpoint, fund it.

Order matters for "loses nothing": everything is validated and pinned before any ether moves,
so a bad spec or an unreachable store fails with no transaction sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3.types import TxReceipt

from magnet_market.chain.client import MarketClient
from magnet_market.chain.types import SlashRates, Timing
from magnet_market.storage import ContentStore
from magnet_market.tasks.spec import TaskSpec, base_checkpoint


@dataclass(frozen=True)
class PublishedTask:
    """Where a new task lives: on chain, and its spec and base checkpoint in storage."""

    task_id: int
    spec_cid: str
    base_cid: str
    bounty: int
    receipt: TxReceipt


def publish_task(
    spec: TaskSpec,
    store: ContentStore,
    client: MarketClient,
    coordinator: str,
    bounty: int | None = None,
) -> PublishedTask:
    """Pin the base checkpoint and the spec, then create and fund the task on chain.

    Args:
        spec: a validated spec (``load_spec``).
        store: where the spec and base checkpoint are pinned.
        client: the market, signing as the sponsor.
        coordinator: the address that will merge rounds and pay out.
        bounty: wei to escrow; default: the spec's ``market.bounty``.
    """
    base_cid = str(store.add_bytes(base_checkpoint(spec).to_bytes()))
    pinned = spec.model_copy(update={"base_cid": base_cid})
    spec_cid = str(store.add_bytes(pinned.canonical_json()))
    market = spec.market
    amount = market.bounty if bounty is None else bounty
    task_id, receipt = client.create_task(
        spec_cid,
        coordinator,
        spec.rounds,
        amount,
        market.claim_bond,
        market.max_contributors,
        Timing(
            market.timing.submit, market.timing.reveal, market.timing.merge, market.timing.challenge
        ),
        SlashRates(market.timeout_bps, market.dishonest_claim_bps, market.bad_verification_bps),
    )
    return PublishedTask(task_id, spec_cid, base_cid, amount, receipt)
