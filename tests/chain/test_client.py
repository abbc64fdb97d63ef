"""Connection, keys, deployment records and devnet behaviour, against real anvil processes."""

from __future__ import annotations

import pytest

from magnet_market.chain import errors
from magnet_market.chain.accounts import Keystore, devnet_account, resolve_signer
from magnet_market.chain.artifacts import load_artifact
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market, deployment_path, find_deployment
from magnet_market.chain.devnet import Devnet, free_port
from magnet_market.chain.events import EVENT_NAMES
from magnet_market.config import Network, resolve_network
from magnet_market.errors import ConfigError

SECRET_KEY = "0x" + "ab" * 32  # a throwaway key made up for this test


def test_unreachable_rpc_is_a_clear_error():
    network = Network("devnet", f"http://127.0.0.1:{free_port()}", 31337)
    with pytest.raises(errors.RPCUnavailableError, match="is the node running"):
        _ = Connection(network, timeout=2).chain_id


def test_wrong_chain_id_is_refused_before_signing():
    with Devnet(chain_id=4242) as node:
        conn = Connection(Network("hooti-testnet", node.url, 777))
        with pytest.raises(
            errors.ChainIdMismatchError, match=r"expects chain id 777.*reports 4242"
        ):
            deploy_market(conn, devnet_account(0), save=False)
        assert conn.w3.eth.get_transaction_count(devnet_account(0).address) == 0


def test_public_networks_need_url_and_chain_id(monkeypatch):
    with pytest.raises(ConfigError, match="MAGNET_RPC_URL"):
        resolve_network("hooti-testnet")
    monkeypatch.setenv("MAGNET_RPC_URL", "http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="MAGNET_CHAIN_ID"):
        resolve_network("hooti")
    monkeypatch.setenv("MAGNET_CHAIN_ID", "0x1f")
    assert resolve_network("hooti") == Network("hooti", "http://127.0.0.1:1", 31, 3)
    monkeypatch.setenv("MAGNET_CONFIRMATIONS", "12")
    assert resolve_network("hooti").confirmations == 12
    assert resolve_network("http://127.0.0.1:2").confirmations == 12
    for bad in ("-1", "two", "1.5"):
        monkeypatch.setenv("MAGNET_CONFIRMATIONS", bad)
        with pytest.raises(ConfigError, match="MAGNET_CONFIRMATIONS must be a whole number"):
            resolve_network("devnet")
    monkeypatch.delenv("MAGNET_CONFIRMATIONS")
    assert resolve_network("devnet").confirmations == 0
    with pytest.raises(ConfigError, match="unknown network"):
        resolve_network("mainnet-please")


def test_devnet_keys_only_on_the_devnet(monkeypatch):
    testnet = Network("hooti-testnet", "http://127.0.0.1:1", 5)
    with pytest.raises(ConfigError, match="refused outside the devnet"):
        resolve_signer(testnet, "devnet:1")
    with pytest.raises(ConfigError, match="no signing key for hooti-testnet"):
        resolve_signer(testnet)
    devnet = resolve_network("devnet")
    assert resolve_signer(devnet).address == devnet_account(0).address
    monkeypatch.setenv("MAGNET_PRIVATE_KEY", "not-a-key-" + SECRET_KEY[2:])
    with pytest.raises(ConfigError) as e:
        resolve_signer(testnet)
    assert SECRET_KEY[2:] not in str(e.value)
    monkeypatch.setenv("MAGNET_PRIVATE_KEY", SECRET_KEY)
    assert resolve_signer(testnet).key.hex().endswith(SECRET_KEY[2:])


def test_keystore_round_trip(monkeypatch):
    store = Keystore()
    address = store.import_key("ops", SECRET_KEY, "pw")
    assert store.list() == [("ops", address)]
    assert store.path("ops").stat().st_mode & 0o777 == 0o600
    assert SECRET_KEY[2:] not in store.path("ops").read_text()
    assert store.load("ops", "pw").address == address
    with pytest.raises(ConfigError, match="wrong password"):
        store.load("ops", "nope")
    with pytest.raises(ConfigError, match="already exists"):
        store.new("ops", "pw")
    with pytest.raises(ConfigError, match="account name"):
        store.new("../evil", "pw")
    monkeypatch.setenv("MAGNET_KEYSTORE_PASSWORD", "pw")
    assert resolve_signer(Network("x", "http://127.0.0.1:1", 1), "ops").address == address


def test_deployment_record_and_reset_chain(devnet_network, connection):
    with pytest.raises(errors.DeploymentNotFoundError, match="magnet deploy"):
        find_deployment(connection)
    record = deploy_market(connection, devnet_account(0))
    assert deployment_path(devnet_network, 31337).is_file()
    assert find_deployment(connection) == record
    with Devnet() as fresh:  # same chain id, empty chain: the recorded address has no code
        other = Connection(Network("devnet", fresh.url, 31337))
        with pytest.raises(errors.DeploymentNotFoundError, match="chain was reset"):
            find_deployment(other)


def test_devnet_state_survives_a_restart(tmp_path):
    state = tmp_path / "devnet-state.json"
    port = free_port()
    with Devnet(port=port, state_path=state) as node:
        conn = Connection(Network("devnet", node.url, 31337))
        record = deploy_market(conn, devnet_account(0), save=False)
    assert state.is_file()
    assert not node.log_path.exists()  # a clean stop leaves no log behind
    with Devnet(port=port, state_path=state) as node:
        conn = Connection(Network("devnet", node.url, 31337))
        assert MarketClient(conn, record.address).task_count() == 0
        assert conn.w3.eth.get_code(record.address)


def test_unmined_transaction_times_out(devnet_network, actors):
    with Devnet() as node:
        conn = Connection(Network("devnet", node.url, 31337))
        record = deploy_market(conn, actors.owner, save=False)
        conn.w3.provider.make_request("evm_setAutomine", [False])
        client = MarketClient(conn, record.address, actors.owner, receipt_timeout=1)
        with pytest.raises(errors.TransactionTimeoutError, match="not mined within 1"):
            client.pause()


def test_read_only_client_refuses_to_send(market):
    reader = MarketClient(market.connection, market.address)
    with pytest.raises(errors.ChainError, match="read-only"):
        reader.pause()
    with pytest.raises(errors.TaskNotFound):
        reader.task(1)


def test_market_address_from_the_environment(connection, actors, monkeypatch):
    """The address alone is enough: the market says where its events start."""
    connection.w3.provider.make_request("anvil_mine", [7])  # the market is not at block 0 or 1
    record = deploy_market(connection, actors.owner, save=False)
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", record.address)
    found = find_deployment(connection)
    assert (found.address, found.block) == (record.address, record.block)
    assert found.block >= 7
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", "0x" + "12" * 20)
    with pytest.raises(errors.DeploymentNotFoundError, match="no contract code"):
        find_deployment(connection)


def test_a_market_without_the_deployment_block_view_is_scanned_from_zero(market, monkeypatch):
    """A market of 0.5.0 or older has no ``deploymentBlock``: its call reverts without data, which
    must mean "scan from 0", not a failed command. Any contract without the view stands in."""
    artifact = load_artifact("ForceSend")
    factory = market.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    older = market.transact(factory.constructor())["contractAddress"]
    assert MarketClient(market.connection, older).deployment_block() is None
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", older)
    assert find_deployment(market.connection).block == 0


def test_the_event_reader_replays_every_market_event():
    """A new event the replay does not read would leave the books short (the read model's
    holdout bond was once missed this way): only ownership's are left to the owner's tools."""
    abi = load_artifact("MagnetMarket").abi
    emitted = {item["name"] for item in abi if item["type"] == "event"}
    assert emitted - set(EVENT_NAMES) == {"OwnershipTransferred", "OwnershipTransferStarted"}
    assert set(EVENT_NAMES) <= emitted
