"""The market on two independent EVM nodes: anvil and Hardhat's network (the EDR engine).

The same flow runs on each: deploy, find the market by its address, a task of two rounds, a
challenge a validator panel decides, rewards claimed, reverts decoded to named errors, and the
books rebuilt from events. A difference between the engines belongs in the chain layer, never in
this test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magnet_market.app.auditor import verify_task
from magnet_market.chain import errors
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market, find_deployment
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.events import EventReader
from magnet_market.chain.hardhat import HardhatDevnet
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import DisputeOutcome, RoundPhase, TaskStatus, slashes_digest
from magnet_market.config import Network
from tests.chain.helpers import (
    BOND,
    ETHER,
    advance_time,
    create_task,
    run_round,
    stake_validators,
    validators,
)

ENGINES = {"anvil": Devnet, "hardhat": HardhatDevnet}


@pytest.fixture(params=sorted(ENGINES))
def node(request: pytest.FixtureRequest) -> Iterator[Devnet]:
    with ENGINES[request.param](accounts=20) as devnet:
        yield devnet


def test_the_market_flow_on_each_engine(node, actors, monkeypatch):
    conn = Connection(Network("devnet", node.url, 31337))
    record = deploy_market(conn, actors.owner, save=False)
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", record.address)
    assert find_deployment(conn).block == record.block  # the market says where it starts
    market = MarketClient(conn, record.address, actors.owner)
    panel = validators(3)
    stake_validators(market, panel)
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=2)
    worker = actors.contributors[0]
    with pytest.raises(errors.ClaimWrongBond) as wrong:  # estimate reverts, decoded by name
        market.with_signer(actors.contributors[1]).claim(task_id, bond=1)
    assert wrong.value.fields["required"] == BOND

    # round 0 is posted honestly and challenged out of spite; the panel holds it
    tree = run_round(market, actors, task_id, [(worker, ETHER)])
    assert tree is not None
    market.with_signer(actors.challenger).challenge(task_id, 0, "spite")
    for validator in panel:
        market.with_signer(validator).vote(
            task_id, 0, tree.root, tree.total, slashes_digest([]), "bafyrecomputed"
        )
    advance_time(market, market.rules().vote_duration)
    market.resolve_dispute(task_id, 0)
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.POSTED_HELD
    assert market.round(task_id, 0).phase is RoundPhase.FINAL
    market.claim_reward(task_id, 0, worker.address, ETHER, tree.proof(worker.address))
    with pytest.raises(errors.RewardAlreadyClaimed):
        market.claim_reward(task_id, 0, worker.address, ETHER, tree.proof(worker.address))

    # round 1: posted, its challenge window outwaited, claimed; then the task closes
    last = run_round(market, actors, task_id, [(worker, 2 * ETHER)])
    assert isinstance(last, CreditTree)
    advance_time(market, market.task(task_id).timing.challenge + 1)
    market.claim_reward(task_id, 1, worker.address, 2 * ETHER, last.proof(worker.address))
    market.with_signer(actors.sponsor).close_task(task_id)
    assert market.task(task_id).status is TaskStatus.CLOSED

    audit = verify_task(market, EventReader(market, record.block), task_id)
    assert audit.ok, audit.as_dict()
    claimed = EventReader(market, record.block).get("RewardClaimed", taskId=task_id)
    assert [(e["args"]["round"], e["args"]["amount"]) for e in claimed] == [
        (0, ETHER),
        (1, 2 * ETHER),
    ]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_transaction_returns_once_it_is_confirmed(engine, actors):
    """On a network with confirmations, a role's transaction is done only once that many
    blocks follow it (the node mining a block a second, as a public chain does)."""
    with ENGINES[engine](block_time=1) as interval_node:
        conn = Connection(Network("devnet", interval_node.url, 31337, confirmations=2))
        record = deploy_market(conn, actors.owner, save=False)
        assert conn.w3.eth.block_number >= record.block + 2
        receipt = MarketClient(conn, record.address, actors.owner).pause()
        assert conn.w3.eth.block_number >= receipt["blockNumber"] + 2
        assert conn.w3.eth.get_transaction_receipt(receipt["transactionHash"]) == receipt
