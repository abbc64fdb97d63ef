"""Event reading as a public provider meets it: capped log ranges, restarts, reorgs, confirmations.

Each test reads a real market on anvil, mostly through a loopback relay that counts requests and
refuses log spans like a provider; reorganisations use anvil's own ``anvil_reorg``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.errors import LogQueryRefusedError
from magnet_market.chain.event_cache import EventCache
from magnet_market.chain.events import EventReader
from magnet_market.chain.logs import SpanPolicy
from magnet_market.chain.relay import RpcRelay
from magnet_market.config import Network
from tests.chain.helpers import create_task
from tests.conftest import Actors

FUND = 10**15


@pytest.fixture
def node() -> Iterator[Devnet]:
    """An anvil of the test's own: reorganising the session's chain would undo other tests."""
    with Devnet() as devnet:
        yield devnet


def _market(url: str, actors: Actors) -> MarketClient:
    conn = Connection(Network("devnet", url, 31337))
    return MarketClient(conn, deploy_market(conn, actors.owner, save=False).address, actors.owner)


def _through(relay: RpcRelay, market: MarketClient) -> MarketClient:
    """The same market, read through ``relay``."""
    return MarketClient(Connection(Network("devnet", relay.url, 31337)), market.address)


def _mine(market: MarketClient, blocks: int) -> None:
    market.w3.provider.make_request("anvil_mine", [blocks])


def _fundings(reader: EventReader, task_id: int, **more: object) -> list[int]:
    """The amounts the funder (devnet account 3) added to ``task_id``, in chain order."""
    funder = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    fundings = reader.get("TaskFunded", taskId=task_id, funder=funder.lower(), **more)
    return [e["args"]["amount"] for e in fundings]


def test_a_capped_provider_gets_spans_it_accepts_and_the_same_events(node, actors):
    market = _market(node.url, actors)
    task = create_task(market, actors.sponsor, actors.coordinator)
    funder = market.with_signer(actors.funder)
    for i in range(1, 6):
        _mine(market, 300)
        funder.fund(task, FUND * i)
    with RpcRelay(node.url, max_log_blocks=100) as relay:
        reader = EventReader(_through(relay, market))
        assert _fundings(reader, task) == [FUND * i for i in range(1, 6)]
        assert reader.get("TaskCreated")[0]["args"]["taskId"] == task
        assert relay.refused > 0
        assert all(end - start + 1 <= 100 for start, end in relay.log_ranges)
        blocks = market.w3.eth.block_number + 1
        # one request per accepted span, not one per event name: about blocks / 100 of them,
        # and a few refusals while the span comes down from 10,000 and settles under the cap
        assert len(relay.log_ranges) <= blocks / 100 + 2
        assert relay.refused <= 12
        # an uncapped read of the same blocks agrees, event for event
        assert reader.all() == EventReader(market).all()


def test_the_span_settles_under_a_cap_in_a_few_refusals():
    """Against a 1,000-block cap, 100,000 blocks cost about 100 answers and a few refusals
    (the bisection, then one probe of the refused span per 16 answers)."""
    policy, scanned, refusals = SpanPolicy(), 0, 0
    while scanned < 100_000:
        if policy.span > 1_000:
            policy.shrink(policy.span)
            refusals += 1
        else:
            scanned += policy.span
            policy.grow(policy.span)
    assert refusals <= 20
    assert policy.accepted == 1_000


def test_a_node_that_refuses_even_one_block_is_a_clear_error(node, actors):
    market = _market(node.url, actors)
    with RpcRelay(node.url, max_log_blocks=1) as relay:
        # a one-block cap is still a cap: the reader gets there and reads
        assert EventReader(_through(relay, market)).all() == EventReader(market).all()
    with RpcRelay(node.url, max_log_blocks=0) as relay:  # every span is too large
        reader = EventReader(_through(relay, market))
        refused = r"refused eth_getLogs for blocks \d+\.\.\d+"
        with pytest.raises(LogQueryRefusedError, match=refused):
            reader.all()


def test_a_restart_reads_only_blocks_it_has_not_seen(node, actors, tmp_path):
    market = _market(node.url, actors)
    task = create_task(market, actors.sponsor, actors.coordinator)
    _mine(market, 300)
    market.with_signer(actors.funder).fund(task, FUND)
    path = tmp_path / "events.sqlite"
    with RpcRelay(node.url) as relay:
        first = EventReader(_through(relay, market), cache=EventCache(path))
        assert _fundings(first, task) == [FUND]
        scanned_to = first.cache.coverage().scanned_to
        first.cache.close()
        _mine(market, 10)
        market.with_signer(actors.funder).fund(task, 2 * FUND)
        relay.reset_counts()
        again = EventReader(_through(relay, market), cache=EventCache(path))
        assert _fundings(again, task) == [FUND, 2 * FUND]
        assert relay.log_ranges and all(start > scanned_to for start, _ in relay.log_ranges)
        relay.reset_counts()
        assert _fundings(again, task) == [FUND, 2 * FUND]  # nothing new: no log request
        assert relay.calls["eth_getLogs"] == 0


def test_a_reorg_rolls_the_cache_back(node, actors, tmp_path):
    market = _market(node.url, actors)
    task = create_task(market, actors.sponsor, actors.coordinator)
    funder = market.with_signer(actors.funder)
    funder.fund(task, FUND)
    _mine(market, 5)
    funder.fund(task, 2 * FUND)  # this block will be reorganised away
    _mine(market, 2)
    path = tmp_path / "events.sqlite"
    reader = EventReader(market, cache=EventCache(path))
    assert _fundings(reader, task) == [FUND, 2 * FUND]
    replacement = {
        "from": actors.funder.address,
        "to": market.address,
        "value": hex(3 * FUND),
        "data": market.contract.functions.fund(task)._encode_transaction_data(),
    }
    market.w3.provider.make_request("anvil_reorg", [4, [[replacement, 1]]])
    assert _fundings(reader, task) == [FUND, 3 * FUND]
    # the file holds the new chain: a fresh reader of it agrees without a full scan
    assert _fundings(EventReader(market, cache=EventCache(path)), task) == [FUND, 3 * FUND]
    for log in reader.cache.logs(-1, market.w3.eth.block_number):  # nothing abandoned is left
        assert market.w3.eth.get_block(log["blockNumber"])["hash"] == log["blockHash"]


def test_a_devnet_restarted_at_the_same_address_is_not_read_from_the_old_cache(actors, tmp_path):
    """A devnet restarted without its state deploys the market at the same address on a new
    chain: the cache's blocks are not on it, so the reader starts over."""
    path = tmp_path / "events.sqlite"
    with Devnet() as node:
        market = _market(node.url, actors)
        task = create_task(market, actors.sponsor, actors.coordinator)
        market.with_signer(actors.funder).fund(task, FUND)
        assert _fundings(EventReader(market, cache=EventCache(path)), task) == [FUND]
    with Devnet() as node:
        again = _market(node.url, actors)
        assert again.address == market.address
        task = create_task(again, actors.sponsor, actors.coordinator)
        _mine(again, 3)
        assert _fundings(EventReader(again, cache=EventCache(path)), task) == []


def test_confirmations_hold_back_the_newest_blocks(node, actors, tmp_path):
    market = _market(node.url, actors)
    task = create_task(market, actors.sponsor, actors.coordinator)
    market.with_signer(actors.funder).fund(task, FUND)
    reader = EventReader(market, cache=EventCache(tmp_path / "e.sqlite"), confirmations=3)
    assert _fundings(reader, task) == []  # not confirmed: a role does not act on it yet
    head = market.w3.eth.block_number
    assert reader.cache.coverage().scanned_to == head - 3  # nor is it kept
    assert _fundings(reader, task, to_block=head) == [FUND]
    _mine(market, 3)
    assert _fundings(reader, task) == [FUND]
    with pytest.raises(ValueError, match="confirmations must be >= 0"):
        EventReader(market, confirmations=-1)


def test_readers_sharing_the_file_never_double_an_event(node, actors, tmp_path):
    """Roles of one machine share the cache file; one that keeps fewer blocks (more
    confirmations) must not take the file's coverage back under the other's events."""
    market = _market(node.url, actors)
    task = create_task(market, actors.sponsor, actors.coordinator)
    funder = market.with_signer(actors.funder)
    path = tmp_path / "events.sqlite"
    eager = EventReader(market, cache=EventCache(path))
    careful = EventReader(market, cache=EventCache(path), confirmations=2)
    funder.fund(task, FUND)
    assert _fundings(eager, task) == [FUND]
    funder.fund(task, 2 * FUND)
    assert _fundings(careful, task) == []  # both fundings are under 2 confirmations
    funder.fund(task, 3 * FUND)
    assert _fundings(eager, task) == [FUND, 2 * FUND, 3 * FUND]
    _mine(market, 2)
    assert _fundings(careful, task) == [FUND, 2 * FUND, 3 * FUND]
    funder.fund(task, 4 * FUND)
    assert _fundings(eager, task) == [FUND, 2 * FUND, 3 * FUND, 4 * FUND]


def test_writers_sharing_the_cache_file_never_find_it_locked(tmp_path):
    """Roles of one machine write the file at once, often with no new logs: a write that
    first read a snapshot another writer then changed used to fail at once ("database is
    locked"), whatever the timeout. Four writers, 300 extensions each, none refused."""
    path = tmp_path / "events.sqlite"
    EventCache(path).reset(0)

    def writer(offset: int) -> None:
        cache = EventCache(path)
        for n in range(300):
            cache.extend([], 4 * n + offset, f"0x{n:064x}", 1_000)
            assert cache.coverage() is not None
        cache.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    cover = EventCache(path).coverage()
    assert cover is not None and cover.scanned_to == 4 * 299 + 3  # it never went back
