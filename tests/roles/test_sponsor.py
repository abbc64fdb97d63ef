"""The sponsor: `magnet task create SPEC.toml` pins the spec and base checkpoint, then funds."""

from __future__ import annotations

import json
import tomllib

from magnet_market.bitnet import checkpoint
from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import find_deployment
from magnet_market.cli import main
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec, spec_from_bytes
from tests.tasks.test_spec import SPEC_TOML


def test_task_create_from_a_spec_file(runner, devnet_network, actors, tmp_path):
    assert runner.invoke(main, ["deploy"]).exit_code == 0
    spec_path = tmp_path / "task.toml"
    spec_path.write_text(SPEC_TOML)
    store_dir = tmp_path / "store"
    args = ["task", "create", str(spec_path), "--store", str(store_dir), "--account", "devnet:1"]
    result = runner.invoke(main, [*args, "--coordinator", actors.coordinator.address, "--json"])
    assert result.exit_code == 0, result.output
    task = json.loads(result.stdout)
    assert task["escrow"] == 3 * 10**18 and task["rounds"] == 2
    assert task["timing"]["submit"] == 120
    store = LocalStore(store_dir)
    pinned = spec_from_bytes(store.get(task["spec_cid"]))
    assert pinned.name == "tinylm-stdlib" and pinned.base_cid
    base = checkpoint.from_bytes(store.get(pinned.base_cid))
    assert base.config == pinned.model_config_obj()
    conn = Connection(devnet_network)
    client = MarketClient(conn, find_deployment(conn).address)
    assert client.task(1).sponsor == actors.sponsor.address


def test_a_bad_spec_sends_no_transaction(runner, devnet_network, tmp_path):
    assert runner.invoke(main, ["deploy"]).exit_code == 0
    spec_path = tmp_path / "task.toml"
    spec_path.write_text(SPEC_TOML.replace('bounty = "3ether"', 'bounty = "-3ether"'))
    result = runner.invoke(main, ["task", "create", str(spec_path), "--store", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert "SpecError" in result.output and "market.bounty" in result.output
    conn = Connection(devnet_network)
    assert MarketClient(conn, find_deployment(conn).address).task_count() == 0
    mixed = runner.invoke(main, ["task", "create", str(spec_path), "--rounds", "3"])
    assert mixed.exit_code == 2 and "set rounds in the spec file" in mixed.output
    neither = runner.invoke(main, ["task", "create"])
    assert neither.exit_code == 2 and "--spec-cid and --bounty" in neither.output


def test_a_task_from_a_pinned_spec_cid_passes_the_sponsors_checks(runner, devnet_network, tmp_path):
    assert runner.invoke(main, ["deploy"]).exit_code == 0
    store = LocalStore(tmp_path / "store")
    spec_cid = str(store.add_bytes(parse_spec(tomllib.loads(SPEC_TOML)).canonical_json()))
    not_a_spec = str(store.add_bytes(b'{"a": "not a spec"}'))
    raw = ["task", "create", "--bounty", "1ether", "--account", "devnet:1"]
    raw += ["--store", str(tmp_path / "store")]
    refused = {
        "not a CID": [*raw, "--spec-cid", "bafkreispec"],
        "invalid task spec": [*raw, "--spec-cid", not_a_spec],
        "market.timeout_bps": [*raw, "--spec-cid", spec_cid, "--timeout-bps", "10001"],
        "market.max_contributors": [*raw, "--spec-cid", spec_cid, "--max-contributors", "0"],
        "market.timing.submit": [*raw, "--spec-cid", spec_cid, "--submit-seconds", "0"],
        "rounds must be 1 to 120": [*raw, "--spec-cid", spec_cid, "--rounds", "121"],
        "is not an address": [*raw, "--spec-cid", spec_cid, "--coordinator", "0x1234"],
    }
    for reason, args in refused.items():
        result = runner.invoke(main, args)
        assert result.exit_code == 1 and "SpecError" in result.output, (reason, result.output)
        assert reason in result.output, (reason, result.output)
    conn = Connection(devnet_network)
    client = MarketClient(conn, find_deployment(conn).address)
    assert client.task_count() == 0  # nothing was sent for any of them
    created = runner.invoke(main, [*raw, "--spec-cid", spec_cid, "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["spec_cid"] == spec_cid
    assert client.task(1).sponsor == devnet_account(1).address


def test_terms_below_the_markets_floors_pin_and_send_nothing(runner, devnet_network, tmp_path):
    deployed = runner.invoke(main, ["deploy", "--min-challenge", "7200", "--json"])
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout)["floors"]["challenge"] == 7200
    spec_path = tmp_path / "task.toml"
    spec_path.write_text(SPEC_TOML)  # the default challenge window: an hour
    store_dir = tmp_path / "store"
    result = runner.invoke(main, ["task", "create", str(spec_path), "--store", str(store_dir)])
    assert result.exit_code == 1 and "SpecError" in result.output
    assert "market.timing.challenge 3600 is below the market's floor 7200" in result.output
    assert not store_dir.exists()  # nothing was pinned
    conn = Connection(devnet_network)
    assert MarketClient(conn, find_deployment(conn).address).task_count() == 0
