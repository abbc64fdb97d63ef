"""The testnet path of docs/testnet.md, against an anvil posing as HOOTi testnet."""

from __future__ import annotations

import json

from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.devnet import Devnet
from magnet_market.cli import main
from magnet_market.config import Network
from magnet_market.storage import cid_of_bytes

TESTNET_CHAIN_ID = 7_777


def test_keystore_deploy_and_task_on_a_foreign_chain(runner, monkeypatch):
    # a block a second, as a public chain: HOOTi's default 3 confirmations are waited for
    with Devnet(chain_id=TESTNET_CHAIN_ID, block_time=1) as node:
        monkeypatch.setenv("MAGNET_RPC_URL", node.url)
        monkeypatch.setenv("MAGNET_CHAIN_ID", str(TESTNET_CHAIN_ID))
        monkeypatch.setenv("MAGNET_KEYSTORE_PASSWORD", "correct horse")
        created = runner.invoke(main, ["account", "new", "deployer"])
        assert created.exit_code == 0, created.output
        address = created.stdout.strip()
        conn = Connection(Network("hooti-testnet", node.url, TESTNET_CHAIN_ID))
        conn.w3.provider.make_request("anvil_setBalance", [address, hex(10**19)])  # the faucet

        refused = runner.invoke(
            main, ["deploy", "--network", "hooti-testnet", "--account", "devnet:0"]
        )
        assert refused.exit_code == 1 and "refused outside the devnet" in refused.output

        deployed = runner.invoke(
            main, ["deploy", "--network", "hooti-testnet", "--account", "deployer", "--json"]
        )
        assert deployed.exit_code == 0, deployed.output
        record = json.loads(deployed.stdout)
        assert (record["chain_id"], record["deployer"]) == (TESTNET_CHAIN_ID, address)
        assert conn.w3.eth.block_number >= record["block"] + 3  # done only once confirmed

        args = ["--network", "hooti-testnet", "--account", "deployer"]
        task = runner.invoke(
            main,
            [
                "task",
                "create",
                *args,
                "--spec-cid",
                str(cid_of_bytes(b"a spec")),
                "--bounty",
                "1ether",
                "--json",
            ],
        )
        assert task.exit_code == 0, task.output
        assert MarketClient(conn, record["address"]).task(1).sponsor == address

        monkeypatch.setenv("MAGNET_CHAIN_ID", "1")  # a mainnet id for a testnet node: refuse
        wrong = runner.invoke(main, ["task", "list", "--network", "hooti-testnet"])
        assert wrong.exit_code == 1 and "ChainIdMismatchError" in wrong.output
