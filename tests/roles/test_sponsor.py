"""The sponsor: `magnet task create SPEC.toml` pins the spec and base checkpoint, then funds."""

from __future__ import annotations

import json
import tomllib

import torch

from magnet_market.bitnet import checkpoint
from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import find_deployment
from magnet_market.cli import main
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import base_checkpoint, parse_spec, spec_from_bytes
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


def test_a_sponsor_brings_its_own_base_checkpoint(runner, devnet_network, tmp_path):
    """`--base FILE`: round 0 trains the sponsor's model; a file that is not the spec's model,
    not a checkpoint, or not finite is refused before anything is pinned or sent."""
    assert runner.invoke(main, ["deploy"]).exit_code == 0
    spec = parse_spec(tomllib.loads(SPEC_TOML))
    spec_path = tmp_path / "task.toml"
    spec_path.write_text(SPEC_TOML)
    trained = base_checkpoint(spec.model_copy(update={"seed": 7}))  # not the spec's own init
    with_moments = checkpoint.Checkpoint(
        {**trained.tensors, "optim.step": torch.tensor(3.0)}, trained.config, step=40
    )
    mine = with_moments.save(tmp_path / "mine.safetensors")
    other_model = parse_spec({**spec.model_dump(), "model": {"d_model": 32, "n_layers": 1}})
    wrong_shape = base_checkpoint(other_model).save(tmp_path / "small.safetensors")
    nan = dict(trained.tensors)
    name = next(iter(nan))
    nan[name] = torch.full_like(nan[name], float("nan"))
    broken = checkpoint.Checkpoint(nan, trained.config).save(tmp_path / "nan.safetensors")
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04\x95 not safetensors")
    store_dir = tmp_path / "store"
    args = ["task", "create", str(spec_path), "--store", str(store_dir), "--account", "devnet:1"]
    refused = {
        wrong_shape: "the spec trains",
        broken: "inf or nan values: " + name.removeprefix("model."),
        pickled: "model.pt",
    }
    for path, reason in refused.items():
        result = runner.invoke(main, [*args, "--base", str(path)])
        assert result.exit_code == 1 and "SponsorError" in result.output, result.output
        assert reason in result.output, result.output
    conn = Connection(devnet_network)
    client = MarketClient(conn, find_deployment(conn).address)
    assert client.task_count() == 0 and not any((store_dir / "pins").glob("*"))
    no_spec = runner.invoke(main, ["task", "create", "--spec-cid", "x", "--base", str(mine)])
    assert no_spec.exit_code == 2 and "--base goes with a SPEC file" in no_spec.output

    result = runner.invoke(main, [*args, "--base", str(mine), "--json"])
    assert result.exit_code == 0, result.output
    store = LocalStore(store_dir)
    pinned = spec_from_bytes(store.get(json.loads(result.stdout)["spec_cid"]))
    base = checkpoint.from_bytes(store.get(str(pinned.base_cid)))
    assert set(base.tensors) == set(trained.tensors)  # the weights alone, no moments
    assert all(torch.equal(base.tensors[k], v) for k, v in trained.tensors.items())
    fresh = base_checkpoint(spec).tensors
    assert not all(torch.equal(fresh[k], v) for k, v in base.tensors.items())
