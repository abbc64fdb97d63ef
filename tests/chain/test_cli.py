"""The chain commands of `magnet`, end to end through click against a real anvil."""

from __future__ import annotations

import json

import click
import pytest

from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import find_deployment
from magnet_market.chain.devnet import free_port
from magnet_market.cli import main
from magnet_market.cli._common import WEI, format_ether
from magnet_market.storage import cid_of_bytes
from tests.chain.helpers import TIMING, advance_time

#: A task created by CID names a spec pinned earlier: any well-formed CID will do here.
SPEC_CID = str(cid_of_bytes(b"a task spec pinned earlier"))


def run(runner, *args, ok=True, **kwargs):
    result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(
    ("text", "wei"),
    [("3ether", 3 * 10**18), ("0.5 ETH", 5 * 10**17), ("20gwei", 2 * 10**10), ("1000", 1000)],
)
def test_amounts_parse_exactly(text, wei):
    assert WEI.convert(text, None, None) == wei
    assert format_ether(3 * 10**18 + 1) == "3.000000000000000001 ETH"


def test_bad_amounts_are_usage_errors():
    for bad in ("abc", "0.5wei", "-1"):
        with pytest.raises(click.BadParameter):
            WEI.convert(bad, None, None)


def test_a_round_through_the_cli(runner, devnet_network, actors, tmp_path):
    deployed = json.loads(run(runner, "deploy", "--json").stdout)
    conn = Connection(devnet_network)
    assert find_deployment(conn).address == deployed["address"]
    created = run(
        runner,
        "task", "create", "--json", "--account", "devnet:1",
        "--spec-cid", SPEC_CID, "--bounty", "2ether", "--rounds", "1",
        "--coordinator", actors.coordinator.address, "--bond", "0.01ether",
        "--submit-seconds", TIMING.submit, "--challenge-seconds", TIMING.challenge,
    )  # fmt: skip
    task = json.loads(created.stdout)
    assert (task["task_id"], task["escrow"], task["status"]) == (1, 2 * 10**18, "open")
    run(runner, "task", "fund", 1, "1ether", "--account", "devnet:3")
    alice = "devnet:5"
    run(runner, "claim", 1, "--account", alice)
    submit = ["submit", 1, "--cid", "bafyalice", "--metric", "1.25", "--account", alice, "--json"]
    submitted = json.loads(run(runner, *submit).stdout)
    assert submitted["claimed_metric"] == 125 * 10**16 and submitted["revealed_now"]
    again = json.loads(run(runner, *submit).stdout)
    assert not again["committed_now"] and not again["revealed_now"]  # idempotent
    credits = tmp_path / "credits.json"
    credits.write_text(json.dumps({actors.contributors[0].address: 10**18}))
    tree = tmp_path / "tree.json"
    run(
        runner, "round", "post", 1, "--account", "devnet:2", "--merged-cid", "bafymerged",
        "--report-cid", "bafyreport", "--credits", credits, "--tree-out", tree,
    )  # fmt: skip
    client = MarketClient(conn, deployed["address"])
    advance_time(client, TIMING.challenge)
    run(runner, "reward", "claim", 1, 0, "--tree", tree, "--account", alice)
    assert client.withdrawable(actors.contributors[0].address) == 10**18
    run(runner, "withdraw", "--yes", "--account", alice)
    assert client.withdrawable(actors.contributors[0].address) == 0
    shown = json.loads(run(runner, "task", "show", 1, "--json").stdout)
    assert shown["round_states"][0]["phase"] == "final"
    assert shown["round_states"][0]["claimed_total"] == 10**18
    listed = run(runner, "task", "list")
    assert SPEC_CID in listed.stdout
    verified = json.loads(run(runner, "payouts", "verify", 1, "--no-reports", "--json").stdout)
    assert verified["ok"] is True
    assert {c["name"] for c in verified["checks"]} >= {"escrow", "reserved credits", "bonds held"}
    table = run(runner, "payouts", "verify", 1, "--no-reports")
    assert "payouts verified" in table.stdout


def test_reverts_and_missing_deployments_are_clean_errors(runner, devnet_network, monkeypatch):
    missing = run(runner, "task", "show", 1, ok=False)
    assert missing.exit_code == 1
    assert "DeploymentNotFoundError" in missing.output and "magnet deploy" in missing.output
    run(runner, "deploy")
    unknown = run(runner, "task", "show", 7, ok=False)
    assert unknown.exit_code == 1 and "TaskNotFound(taskId=7)" in unknown.output
    assert "Traceback" not in unknown.output
    monkeypatch.setenv("MAGNET_DEVNET_URL", f"http://127.0.0.1:{free_port()}")
    down = run(runner, "task", "list", ok=False)
    assert down.exit_code == 1 and "RPCUnavailableError" in down.output


def test_account_commands_never_print_keys(runner):
    key = "0x" + "cd" * 32  # a throwaway key made up for this test
    imported = run(runner, "account", "import", "ops", input=f"{key}\npw\npw\n")
    assert key[2:] not in imported.stdout
    listed = json.loads(run(runner, "account", "list", "--json").stdout)
    assert listed[0]["name"] == "ops" and listed[0]["address"] in imported.stdout
