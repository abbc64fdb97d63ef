"""A finished small market (two digits rounds, one liar slashed), a second task on it whose
round validators overturned, and an autoresearch run folder, built once for every dashboard
test, plus the dashboard app over them."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.autoresearch.ledger import Ledger, Record
from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import SlashReason, Timing
from magnet_market.config import Network
from magnet_market.dashboard import create_app
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests.dashboard._client import TestClient, local_client
from tests.roles.test_contributor import DIGITS_SPEC

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"


@dataclass
class FinishedMarket:
    """A closed task on the session devnet: who played what, and where things are."""

    client: MarketClient  # read-only
    store: LocalStore
    from_block: int
    task_id: int
    honest: list[str]
    liar: str
    sponsor: str


@pytest.fixture(scope="session")
def finished(devnet, actors, tmp_path_factory) -> FinishedMarket:
    """Two rounds of the digits task run by real Contributor/Coordinator threads (as in
    tests/roles/test_flow.py): two honest contributors, one that over-claims and is slashed."""
    root = tmp_path_factory.mktemp("dashboard-market")
    network = Network("devnet", devnet.url, devnet.chain_id)
    connection = Connection(network)
    deployment = deploy_market(connection, actors.owner, save=False)
    market = MarketClient(connection, deployment.address)
    store = LocalStore(root / "store")
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": 0}
    spec = parse_spec({**DIGITS_SPEC, "market": {**DIGITS_SPEC["market"], "timing": timing}})
    people = actors.contributors[:3]
    with pytest.MonkeyPatch.context() as mp:  # the roles keep salts under MAGNET_HOME
        mp.setenv("MAGNET_HOME", str(root / "home"))
        task = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
            spec, actors.coordinator.address
        )
        for who in people:
            market.with_signer(who).claim(task.task_id)
        bias = {people[0].address: 0.0, people[1].address: 0.0, people[2].address: 0.4}

        def own(signer) -> MarketClient:
            return MarketClient(Connection(network), market.address, signer)

        def contribute(who):
            worker = Contributor(Session.of_market(own(who), store), root / "c")
            return worker.run(task.task_id, claim_bias=bias[who.address], poll=0.2)

        def coordinate():
            worker = Coordinator(Session.of_market(own(actors.coordinator), store), root / "k")
            return worker.run(task.task_id, poll=0.2)

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(contribute, who) for who in people]
            pool.submit(coordinate).result(timeout=300)
            for f in futures:
                f.result(timeout=300)
    return FinishedMarket(
        client=market,
        store=store,
        from_block=deployment.block,
        task_id=task.task_id,
        honest=[people[0].address, people[1].address],
        liar=people[2].address,
        sponsor=actors.sponsor.address,
    )


@dataclass
class DisputedTask:
    """A one-round task on the finished market: the coordinator credited a contributor and
    slashed a sleeper, two challengers disputed it and the validator overturned it (no credits)."""

    task_id: int
    credited: str  # the contributor the posted round credited
    sleeper: str  # slashed with the post for a timeout; the overturn undid it
    challengers: list[str]
    validator: str
    posted_report: str  # CID of the coordinator's report
    voted_report: str  # CID of the validator's recomputed report
    stake: int  # the coordinator's stake the winners shared


#: What the disputed task's round credited (the validator found it should credit nothing).
DISPUTED_CREDIT = 3 * 10**17


def _advance(market: MarketClient, seconds: int) -> None:
    market.w3.provider.make_request("evm_increaseTime", [seconds])
    market.w3.provider.make_request("evm_mine", [])


def _pin_report(store: LocalStore, credited: int, tree: CreditTree | None, author: str) -> str:
    """A round report as the coordinator pins it (the parts the dashboard and audit read)."""
    report = {
        "metric": "balanced_accuracy",
        "parent_metric": 0.5,
        "merged_metric": 0.6 if credited else 0.5,
        "credited_wei": credited,
        "submissions": [
            {
                "author": author,
                "cid": "bafydisputed",
                "status": "accepted" if credited else "rejected",
                "claimed": 0.9,
                "measured": 0.9 if credited else 0.1,
                "credit_wei": credited,
                "checks": [],
            }
        ],
    }
    document = {"report": report, "credits": tree.dump() if tree else None}
    return str(store.add_bytes(json.dumps(document, sort_keys=True).encode()))


@pytest.fixture(scope="session")
def disputed(finished, actors) -> DisputedTask:
    """Drives the dispute straight through the client (no training): the validator stakes,
    the coordinator posts with a timeout slash, two accounts challenge, the validator votes
    for "nothing credited", and after the vote the dispute is resolved: overturned."""
    market = finished.client
    validator, second = devnet_account(15), devnet_account(16)
    worker, sleeper = actors.contributors[3], actors.contributors[4]
    market.with_signer(validator).stake_validator()
    _advance(market, 1)  # only disputes opened after the stake count its vote
    spec_cid = market.task(finished.task_id).spec_cid
    timing = Timing(submit=600, reveal=600, merge=600, challenge=600)
    task_id, _ = market.with_signer(actors.sponsor).create_task(
        spec_cid, actors.coordinator.address, 1, 10**18, 10**16, 4, timing
    )
    for who in (worker, sleeper):
        market.with_signer(who).claim(task_id)
    salt = os.urandom(32)
    commitment = commitment_for(task_id, 0, worker.address, "bafydisputed", 9 * 10**17, salt)
    market.with_signer(worker).commit(task_id, commitment)
    _advance(market, timing.submit)  # the sleeper never commits
    market.with_signer(worker).reveal(task_id, "bafydisputed", 9 * 10**17, salt)
    tree = CreditTree.of([(worker.address, DISPUTED_CREDIT)])
    posted_report = _pin_report(finished.store, DISPUTED_CREDIT, tree, worker.address)
    voted_report = _pin_report(finished.store, 0, None, worker.address)
    coordinator = market.with_signer(actors.coordinator)
    stake = 10**18 * market.rules().coordinator_stake_bps // 10_000
    coordinator.stake_coordinator(task_id, stake)
    coordinator.post_round(
        task_id,
        "bafymergeddisputed",
        posted_report,
        tree.root,
        DISPUTED_CREDIT,
        [(sleeper.address, SlashReason.TIMEOUT)],
    )
    for who in (actors.challenger, second):
        market.with_signer(who).challenge(task_id, 0, "bafyevidence")
    market.with_signer(validator).vote(task_id, 0, bytes(32), 0, bytes(32), voted_report)
    _advance(market, market.rules().vote_duration)
    market.with_signer(validator).resolve_dispute(task_id, 0)
    return DisputedTask(
        task_id=task_id,
        credited=worker.address,
        sleeper=sleeper.address,
        challengers=[actors.challenger.address, second.address],
        validator=validator.address,
        posted_report=posted_report,
        voted_report=voted_report,
        stake=stake,
    )


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    """One autoresearch run folder written by the real ledger: kept, discarded and crashed."""
    root = tmp_path_factory.mktemp("runs")
    ledger = Ledger(root / "digits-sweep")
    rows = [
        (None, "keep", 0.9400, "default configuration"),
        (0, "discard", 0.9350, "optim.lr=0.002"),
        (0, "keep", 0.9550, "train.batch_size=128"),
        (2, "crash", None, "model.hidden=4096: out of memory"),
        (2, "discard", 0.9500, "optim.warmup_steps=40"),
        (2, "keep", 0.9700, "optim.beta1=0.86"),
    ]
    for i, (parent, status, metric, description) in enumerate(rows):
        ledger.append(
            Record(
                id=i,
                parent=parent,
                phase="baseline" if i == 0 else "optim",
                status=status,
                description=description,
                config={"optim.lr": 0.003},
                metric=metric,
                runs=[] if metric is None else [metric],
                memory_mb=340.0,
                seconds=1.5,
            )
        )
    (ledger.directory / "best_config.json").write_text(
        '{"metric": "balanced_accuracy", "direction": "maximize"}\n'
    )
    return root


@pytest.fixture(scope="session")
def api(finished, disputed, runs_dir) -> TestClient:
    """The read-only dashboard app over the finished market (and its disputed task)."""
    app = create_app(
        Session.of_market(finished.client, finished.store, finished.from_block), runs_dir=runs_dir
    )
    return local_client(app)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (build/ is ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
