"""Shared fixtures: real anvil and IPFS processes on loopback, a fresh market per test, accounts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account.signers.local import LocalAccount

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.config import Network
from magnet_market.storage import KuboStore
from magnet_market.storage.devnode import DevNode, DevNodeError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def magnet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own MAGNET_HOME, so nothing touches the user's ~/.magnet."""
    home = tmp_path / "magnet-home"
    monkeypatch.setenv("MAGNET_HOME", str(home))
    for var in (
        "MAGNET_PRIVATE_KEY",
        "MAGNET_NETWORK",
        "MAGNET_MARKET_ADDRESS",
        "MAGNET_RPC_URL",
        "MAGNET_CONFIRMATIONS",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    """One anvil for the whole session (tests deploy their own market on it)."""
    with Devnet(accounts=20) as node:
        yield node


@pytest.fixture
def devnet_network(devnet: Devnet, monkeypatch: pytest.MonkeyPatch) -> Network:
    """The `devnet` network pointed at the session's anvil (also for the CLI, via env)."""
    monkeypatch.setenv("MAGNET_DEVNET_URL", devnet.url)
    return Network("devnet", devnet.url, devnet.chain_id)


@pytest.fixture
def connection(devnet_network: Network) -> Connection:
    return Connection(devnet_network)


@dataclass
class Actors:
    """Named devnet accounts: who plays which role in a test."""

    owner: LocalAccount
    sponsor: LocalAccount
    coordinator: LocalAccount
    funder: LocalAccount
    challenger: LocalAccount
    contributors: list[LocalAccount]


@pytest.fixture(scope="session")
def actors() -> Actors:
    return Actors(
        owner=devnet_account(0),
        sponsor=devnet_account(1),
        coordinator=devnet_account(2),
        funder=devnet_account(3),
        challenger=devnet_account(4),
        contributors=[devnet_account(i) for i in range(5, 15)],
    )


@pytest.fixture
def market(connection: Connection, actors: Actors) -> MarketClient:
    """A freshly deployed market, client signing as the owner."""
    deployment = deploy_market(connection, actors.owner, save=False)
    return MarketClient(connection, deployment.address, actors.owner)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """One js-ipfs daemon (offline, loopback) for the session; absent binary = failure."""
    node = DevNode(tmp_path_factory.mktemp("ipfs-node"), startup_timeout=60)
    failure = None
    try:
        node.start()
    except DevNodeError as e:
        failure = str(e)
    if failure:  # outside the except block, so the report is the message alone
        pytest.fail(f"cannot start the test IPFS node: {failure}", pytrace=False)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def kubo(ipfs_node: DevNode) -> Iterator[KuboStore]:
    with KuboStore(ipfs_node.api_url, timeout=10) as store:
        yield store
