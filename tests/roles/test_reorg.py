"""A reorganisation under a running role: its event cache rolls back and it sends nothing twice.

The contributor claims its reward; the chain then drops the blocks that held the claim
(anvil's own ``anvil_reorg``, on an anvil of the test's own). The role's disk cache of events
(``$MAGNET_HOME/cache/events``) still has the abandoned claim: it must notice, read the new
blocks, and claim exactly once more; a further call sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.auditor import verify_task
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.events import EventReader
from magnet_market.config import Network
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests.chain.helpers import advance_time
from tests.roles.test_contributor import DIGITS_SPEC


@pytest.fixture
def market(actors) -> Iterator[MarketClient]:
    """A market on an anvil of the test's own: reorganising the session's chain would undo
    other tests' blocks."""
    with Devnet(accounts=20) as node:
        conn = Connection(Network("devnet", node.url, 31337))
        yield MarketClient(conn, deploy_market(conn, actors.owner, save=False).address)


def test_a_reorg_under_the_contributor_claims_exactly_once(market, actors, tmp_path):
    store = LocalStore(tmp_path / "store")
    spec = parse_spec({**DIGITS_SPEC, "rounds": 1})
    sponsor = Session.of_market(market.with_signer(actors.sponsor), store)
    task = Sponsor(sponsor).publish(spec, actors.coordinator.address).task_id
    who = actors.contributors[0]
    contributor = Contributor(Session.of_market(market.with_signer(who), store), tmp_path / "w")
    contributor.join(task)
    contributor.work_round(task)
    coordinator = Session.of_market(market.with_signer(actors.coordinator), store)
    posted = Coordinator(coordinator, tmp_path / "c").merge_round(task)
    advance_time(market, spec.market.timing.challenge + 1)

    reward = posted.total_credited
    assert contributor.claim_rewards(task) == reward
    claim_block = market.w3.eth.block_number
    nonce = market.w3.eth.get_transaction_count(who.address)
    market.w3.provider.make_request("anvil_reorg", [1, []])  # the claim's block is abandoned
    assert market.w3.eth.get_block(claim_block)["transactions"] == []

    assert contributor.claim_rewards(task) == reward  # the cache saw it go: claimed again
    assert contributor.claim_rewards(task) == 0  # and only once
    assert market.w3.eth.get_transaction_count(who.address) == nonce
    claims = contributor.reader.get("RewardClaimed", taskId=task, account=who.address)
    assert [e["args"]["amount"] for e in claims] == [reward]
    assert claims[0]["blockNumber"] > claim_block  # the new block's, not the abandoned one
    audit = verify_task(market, EventReader(market), task)
    assert audit.ok, audit.as_dict()
