"""`magnet demo --network URL --ipfs-api URL --serve`: the demo on another chain and a real
node, as its own process, then its dashboard.

The other chain is an anvil with a foreign chain id and 1 s blocks (receipts are not instant);
the paying key comes from MAGNET_PRIVATE_KEY, as on a testnet; checkpoints, specs and reports go
through the test IPFS daemon's HTTP RPC. A small digits task (`--task`) keeps it quick.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.connection import Connection
from magnet_market.chain.devnet import Devnet, free_port
from magnet_market.config import Network
from tests._magnet import run_magnet
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
trials = 1

[market]
bounty = "3ether"
claim_bond = "0.01ether"
max_contributors = 3

[market.timing]
challenge = 30  # time for the validator to judge each round again
"""


def test_demo_on_another_chain_and_node_then_its_dashboard(tmp_path, ipfs_node, kubo):
    spec = tmp_path / "task.toml"
    spec.write_text(SPEC_TOML)
    payer = devnet_account(7)
    port = free_port()
    with Devnet(chain_id=424242, block_time=1) as node:
        env = {
            **os.environ,
            "MAGNET_HOME": str(tmp_path / "home"),
            "MAGNET_CHAIN_ID": str(node.chain_id),
            "MAGNET_PRIVATE_KEY": payer.key.hex(),
        }
        args = ["demo", "--network", node.url, "--ipfs-api", ipfs_node.api_url, "--task", spec]
        args += ["--bounty", "0.3ether", "--json", "--serve", "--port", port]
        log = tmp_path / "demo.log"
        with log.open("w") as progress:
            demo = subprocess.Popen(
                [sys.executable, "-m", "magnet_market.cli", *map(str, args)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=progress,
                text=True,
            )
        try:
            assert demo.stdout is not None
            # Tables, then the summary line; then the dashboard starts.
            line = next((x for x in demo.stdout if x.startswith("{")), "")
            assert line, log.read_text()[-3000:]
            summary = json.loads(line)
            dashboard = _wait_for_dashboard(f"http://127.0.0.1:{port}")
            task = dashboard.get("/api/tasks/1").json()
            payouts = dashboard.get("/api/tasks/1/payouts").json()
            runs = dashboard.get("/api/runs").json()
            dashboard.close()
        finally:
            demo.send_signal(signal.SIGINT)  # Ctrl-C: the dashboard stops, the demo ends
            code = demo.wait(timeout=60)
            demo.stdout.close()
        w3 = Connection(Network("other", node.url, node.chain_id)).w3
        balances = {name: w3.eth.get_balance(a) for name, a in summary["accounts"].items()}
    assert code == 0, log.read_text()[-3000:]
    assert summary["rounds"] == 2 and summary["payouts_verified"] is True
    assert summary["metric"] == "balanced_accuracy"
    accounts = summary["accounts"]
    assert payer.address not in accounts.values()  # fresh role accounts, not the payer's
    assert set(summary["slashed"]) == {accounts["liar"], accounts["corrupt"]}
    # only accepted work publishes a recipe the next round may start from
    assert set(summary["recipe_winner_per_round"]) <= {accounts["honest"], None}
    # The coordinator credited round 1 to a Sybil; the validator caught it and the vote
    # replaced the credits, so the stake went to the validator and the honest were paid.
    (dispute,) = summary["disputes"]
    assert (dispute["round"], dispute["outcome"]) == (1, "overturned")
    assert dispute["forfeited_stake_wei"] > 0
    assert summary["total_paid_wei"] > 0 and accounts["validator"] in accounts.values()
    assert 0 < summary["total_paid_wei"] <= 3 * ETHER // 10 + 2 * ETHER // 100  # + slashed bonds
    assert all(b < ETHER // 1000 for b in balances.values()), balances  # swept back
    assert payer.key.hex() not in log.read_text()  # the key never reaches the output
    assert summary["rejected"] and all(kubo.has(cid) for cid in summary["rejected"])
    # The dashboard shows the same market: the demo's task, payouts and contributors' searches.
    assert task["row"]["status"] == "closed" and task["metric"] == "balanced_accuracy"
    points = [value for _, value in task["metric_points"]]
    assert points == summary["val_loss_per_round"]
    steps = [r["posted"]["merge_step"] for r in task["rounds"]]
    assert steps == summary["merge_step_per_round"] and set(steps) <= {"outer", "average", "best"}
    assert payouts["ok"] is True
    assert len(runs) == 6  # three contributors, two rounds, one search each


def _wait_for_dashboard(url: str, timeout: float = 30.0) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.get("/api/head").raise_for_status()
            return client
        except httpx.TransportError:
            if time.monotonic() > deadline:
                client.close()
                raise
            time.sleep(0.2)


def test_demo_on_the_sponsors_own_table(tmp_path):
    """`magnet demo --dataset examples/wine.csv --label target --json`, as the README shows it:
    the file is packed by CID, the same two-round market runs on it, and the summary adds each
    merged model's score on the holdout split."""
    env = {**os.environ, "MAGNET_HOME": str(tmp_path / "home")}
    args = ["demo", "--dataset", "examples/wine.csv", "--label", "target", "--json"]
    done = run_magnet(args, env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["metric"] == "balanced_accuracy" and summary["payouts_verified"] is True
    assert summary["rounds"] == 2 and summary["total_paid_wei"] > 0
    assert [d["outcome"] for d in summary["disputes"]] == ["overturned"]  # the Sybil round
    holdout = summary["holdout_metric_per_round"]
    assert len(holdout) == 2 and all(0.0 <= h <= 1.0 for h in holdout)
    assert "packed as a tabular dataset" in done.stderr  # the steps, for humans
