"""The roles as separate `magnet` processes, as the demo and real users run them."""

from __future__ import annotations

import json
import os
import subprocess

from magnet_market.app.auditor import verify_task
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import find_deployment
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import TaskStatus
from magnet_market.cli import main
from tests._magnet import start_magnet

SPEC_TOML = """
name = "digits-processes"
kind = "digits"
rounds = 1
inner_steps = 30
batch_size = 32

[model]
hidden = 32
n_layers = 1

[search]
trials = 0

[market]
bounty = "1ether"
max_contributors = 2

[market.timing]
challenge = 0
"""


def test_roles_as_processes(runner, devnet_network, actors, tmp_path, magnet_home):
    assert runner.invoke(main, ["deploy"]).exit_code == 0
    spec = tmp_path / "task.toml"
    spec.write_text(SPEC_TOML)
    store = ["--store", str(tmp_path / "store")]
    created = runner.invoke(
        main,
        ["task", "create", str(spec), *store, "--account", "devnet:1", "--json",
         "--coordinator", actors.coordinator.address],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    env = {
        **os.environ,
        "MAGNET_HOME": str(magnet_home),
        "MAGNET_DEVNET_URL": devnet_network.rpc_url,
    }

    def magnet(*args: str) -> subprocess.Popen:
        return start_magnet([*args, *store, "--poll", "0.2"], env)

    procs = [
        magnet("contributor", "run", "1", "--account", f"devnet:{i}", "--json") for i in (5, 6)
    ]
    procs.append(magnet("coordinator", "run", "1", "--account", "devnet:2", "--json"))
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    posted = json.loads(results[2][0])
    assert [r["round"] for r in posted] == [0] and posted[0]["total_credited"] == 10**18
    summaries = [json.loads(out) for out, _ in results[:2]]
    assert sum(s["rewards"] for s in summaries) == 10**18
    conn = Connection(devnet_network)
    client = MarketClient(conn, find_deployment(conn).address)
    assert client.task(1).status is TaskStatus.CLOSED
    assert verify_task(client, EventReader(client), 1).ok
