"""A market on a foreign-chain-id devnet with 1 s blocks, surviving a dropped RPC link mid-task."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from magnet_market.app import Session, Sponsor
from magnet_market.app.auditor import verify_task
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import DEVNET_FLOORS, TaskStatus
from magnet_market.config import Network
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests.roles.proxy import FlakyProxy
from tests.roles.test_contributor import DIGITS_SPEC

CHAIN_ID = 4_321


def test_roles_ride_out_a_dropped_rpc_connection(tmp_path):
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": 2}
    spec = parse_spec({**DIGITS_SPEC, "market": {**DIGITS_SPEC["market"], "timing": timing}})
    with Devnet(chain_id=CHAIN_ID, block_time=1) as node:
        proxy = FlakyProxy(node.port)
        network = Network("hooti-testnet", proxy.url, CHAIN_ID)
        direct = Connection(Network("hooti-testnet", node.url, CHAIN_ID))
        # A local chain standing in for a testnet: rounds of seconds need the devnet's floors.
        record = deploy_market(direct, devnet_account(0), save=False, floors=DEVNET_FLOORS)
        sponsor = MarketClient(direct, record.address, devnet_account(1))
        store = LocalStore(tmp_path / "store")
        task = Sponsor(Session.of_market(sponsor, store)).publish(spec, devnet_account(2).address)
        people = [devnet_account(i) for i in (5, 6)]
        said: list[str] = []
        for who in people:
            sponsor.with_signer(who).claim(task.task_id)

        def client(signer) -> MarketClient:
            return MarketClient(Connection(network, timeout=5), record.address, signer)

        def contribute(who):
            worker = Contributor(Session.of_market(client(who), store), tmp_path / "c")
            worker.max_outage = 60
            return worker.run(task.task_id, poll=0.3, on_progress=said.append)

        def coordinate():
            worker = Coordinator(
                Session.of_market(client(devnet_account(2)), store), tmp_path / "k"
            )
            worker.max_outage = 60
            return worker.run(task.task_id, poll=0.3, on_progress=said.append)

        def outage_after_round_zero():
            deadline = time.monotonic() + 300
            while sponsor.task(task.task_id).current_round < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            proxy.cut()
            # Until every role has met the outage (three reports), or 30 s after the first:
            # well within their 60 s outage budget.
            cut_at = time.monotonic()
            while time.monotonic() - cut_at < 30:
                hits = sum("node unreachable" in line for line in said)
                if hits >= 3 or (hits and time.monotonic() - cut_at > 10):
                    break
                time.sleep(0.2)
            proxy.restore()

        cutter = threading.Thread(target=outage_after_round_zero, daemon=True)
        cutter.start()
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(contribute, who) for who in people]
            posted = pool.submit(coordinate).result(timeout=600)
            summaries = [f.result(timeout=600) for f in futures]
        cutter.join(timeout=10)
        proxy.close()
        assert any("node unreachable" in line for line in said)  # the outage did hit the roles
        # The cut can land while the coordinator waits for a receipt; it then learns from the
        # chain that the round was posted, so its own list may miss it, but nothing repeats.
        events = EventReader(sponsor).get("RoundPosted", taskId=task.task_id)
        assert [e["args"]["round"] for e in events] == [0, 1]
        assert {p.round for p in posted} <= {0, 1}
        assert sponsor.task(task.task_id).status is TaskStatus.CLOSED
        credited = sum(e["args"]["totalCredited"] for e in events)
        claims = EventReader(sponsor).get("RewardClaimed", taskId=task.task_id)
        assert sum(e["args"]["amount"] for e in claims) == credited  # everything paid, once
        assert sum(s.rewards for s in summaries) <= credited
        assert all(sponsor.withdrawable(who.address) == 0 for who in people)
        assert verify_task(sponsor, EventReader(sponsor), task.task_id).ok
