"""A finished small market (two digits rounds, one liar slashed) and an autoresearch run folder,
built once for every dashboard test, plus the dashboard app over them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.autoresearch.ledger import Ledger, Record
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
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
def api(finished, runs_dir) -> TestClient:
    """The read-only dashboard app over the finished market."""
    app = create_app(
        Session.of_market(finished.client, finished.store, finished.from_block), runs_dir=runs_dir
    )
    return local_client(app)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (build/ is ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
