"""`magnet demo --network URL --ipfs-api URL`: the demo's flow on another chain and a real node.

The other chain is an anvil with a foreign chain id and 1 s blocks (receipts are not instant);
the paying key comes from MAGNET_PRIVATE_KEY, as on a testnet; checkpoints, specs and reports go
through the test IPFS daemon's HTTP RPC. A small digits task (`--task`) keeps it quick.
"""

from __future__ import annotations

import json

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.connection import Connection
from magnet_market.chain.devnet import Devnet
from magnet_market.cli import main
from magnet_market.config import Network
from tests.chain.helpers import ETHER

SPEC_TOML = """
name = "digits-demo"
kind = "digits"
rounds = 2
inner_steps = 30
batch_size = 32

[model]
hidden = 32
n_layers = 1

[search]
trials = 0

[market]
bounty = "3ether"
claim_bond = "0.01ether"
max_contributors = 3

[market.timing]
challenge = 2
"""


def test_demo_on_another_chain_and_node_pays_out_and_sweeps_the_role_accounts(
    runner, tmp_path, monkeypatch, kubo, ipfs_node
):
    spec = tmp_path / "task.toml"
    spec.write_text(SPEC_TOML)
    payer = devnet_account(7)
    with Devnet(chain_id=424242, block_time=1) as node:
        monkeypatch.setenv("MAGNET_CHAIN_ID", str(node.chain_id))
        monkeypatch.setenv("MAGNET_PRIVATE_KEY", payer.key.hex())
        args = ["demo", "--network", node.url, "--ipfs-api", ipfs_node.api_url]
        args += ["--task", spec, "--bounty", "0.3ether", "--json"]
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.strip().splitlines()[-1])
        w3 = Connection(Network("other", node.url, node.chain_id)).w3
        balances = {name: w3.eth.get_balance(a) for name, a in summary["accounts"].items()}
    assert summary["rounds"] == 2 and summary["payouts_verified"] is True
    assert summary["metric"] == "balanced_accuracy"
    accounts = summary["accounts"]
    assert payer.address not in accounts.values()  # fresh role accounts, not the payer's
    assert set(summary["slashed"]) == {accounts["liar"], accounts["corrupt"]}
    assert 0 < summary["total_paid_wei"] <= 3 * ETHER // 10 + 2 * ETHER // 100  # + slashed bonds
    assert all(b < ETHER // 1000 for b in balances.values()), balances  # swept back
    assert payer.key.hex() not in result.output  # the key never reaches the output
    assert summary["rejected"] and all(kubo.has(cid) for cid in summary["rejected"])
