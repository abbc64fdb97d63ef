"""`magnet contributor run --auto`: a contributor told no task finds its work, as processes."""

from __future__ import annotations

import json
import os
import subprocess

from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import find_deployment
from magnet_market.chain.types import TaskStatus
from magnet_market.cli import main
from tests._magnet import start_magnet
from tests.roles.test_processes import SPEC_TOML


def _spec(name: str, bounty: str) -> str:
    """The processes test's one-round digits task, with one seat and time to wait for it."""
    return (
        SPEC_TOML.replace('"digits-processes"', f'"digits-auto-{name}"')
        .replace('bounty = "1ether"', f'bounty = "{bounty}"')
        .replace("max_contributors = 2", "max_contributors = 1")
        .replace("challenge = 0", "submit = 900\nchallenge = 0")
    )


def test_auto_takes_up_its_unfinished_task_then_finds_the_next(
    runner, devnet_network, actors, tmp_path, magnet_home
):
    assert runner.invoke(main, ["deploy"]).exit_code == 0
    store = ["--store", str(tmp_path / "store")]
    for name, bounty in (("small", "1ether"), ("rich", "2ether"), ("other", "3ether")):
        spec = tmp_path / f"{name}.toml"
        spec.write_text(_spec(name, bounty))
        created = runner.invoke(
            main,
            ["task", "create", str(spec), *store, "--account", "devnet:1",
             "--coordinator", actors.coordinator.address],
        )  # fmt: skip
        assert created.exit_code == 0, created.output
    # task 3, the richest, is taken by someone else; we joined task 1 in an earlier run
    assert runner.invoke(main, ["claim", "3", "--account", "devnet:6"]).exit_code == 0
    assert runner.invoke(main, ["claim", "1", "--account", "devnet:5"]).exit_code == 0
    env = {
        **os.environ,
        "MAGNET_HOME": str(magnet_home),
        "MAGNET_DEVNET_URL": devnet_network.rpc_url,
    }

    def magnet(*args: str) -> subprocess.Popen:
        return start_magnet([*args, *store, "--poll", "0.2"], env)

    auto = magnet("contributor", "run", "--auto", "--account", "devnet:5", "--json")
    coordinators = [
        magnet("coordinator", "run", str(t), "--account", "devnet:2", "--json") for t in (1, 2)
    ]
    out, err = auto.communicate(timeout=600)
    assert auto.returncode == 0, err
    for c in coordinators:
        c.communicate(timeout=120)
        assert c.returncode == 0
    done = json.loads(out)
    # the task it already held first, though task 2 pays more; task 3 was full
    assert [s["task_id"] for s in done] == [1, 2]
    assert [s["rewards"] for s in done] == [10**18, 2 * 10**18]
    assert "taking up tasks [1] again" in err and "joined task 2" in err
    conn = Connection(devnet_network)
    client = MarketClient(conn, find_deployment(conn).address)
    assert [client.task(t).status for t in (1, 2)] == [TaskStatus.CLOSED] * 2
    assert client.contributor(3, actors.contributors[0].address)["joined"] is False
    # nothing left to do: a second run ends at once, finishing nothing
    again = runner.invoke(main, ["contributor", "run", "--auto", "--account", "devnet:5", *store])
    assert again.exit_code == 0, again.output
    assert "0 tasks finished" in again.output
    both = runner.invoke(main, ["contributor", "run", "1", "--auto", *store])
    assert both.exit_code == 2 and "either TASK_ID or --auto" in both.output
