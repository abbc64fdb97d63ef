"""Datasets in the store: pinned by CID on a real IPFS daemon, fetched, verified, refused."""

from __future__ import annotations

import json

import pytest

from magnet_market.app.datasets import (
    fetch_dataset,
    load_manifest,
    publish_dataset,
    verify_dataset,
)
from magnet_market.cli import main
from magnet_market.datasets import DatasetError, PackOptions, parse_manifest
from magnet_market.storage import LocalStore
from tests.datasets.test_pack import table_csv

TABULAR = PackOptions("tabular", label="y")


def test_a_dataset_is_pinned_on_the_node_and_fetched_back_verified(kubo, tmp_path):
    source = table_csv(tmp_path)
    published = publish_dataset(kubo, source, TABULAR)
    again = publish_dataset(LocalStore(tmp_path / "elsewhere"), source, TABULAR)
    assert again.cid == published.cid  # the same file packs to the same bytes and CID
    assert load_manifest(kubo, published.cid) == published.manifest
    check = verify_dataset(kubo, published.cid, tmp_path / "cache")
    assert check.ok and [s.split for s in check.shards] == ["train", "val", "holdout"]
    local = fetch_dataset(kubo, published.cid, tmp_path / "cache")
    assert local.manifest == published.manifest
    assert [len(local.paths(s)) for s in ("train", "val", "holdout")] == [1, 1, 1]
    assert local.read("val").num_rows == published.manifest.splits["val"].rows
    rows = {s.split: s.rows for s in check.shards}
    assert sum(rows.values()) == published.manifest.rows == 400


def test_a_manifest_that_lies_about_a_shard_is_caught(tmp_path):
    store = LocalStore(tmp_path / "store")
    published = publish_dataset(store, table_csv(tmp_path), TABULAR)
    data = json.loads(store.get(published.cid))
    data["splits"]["val"]["shards"][0]["bytes"] += 1
    lying = str(store.add_bytes(json.dumps(data).encode()))
    check = verify_dataset(store, lying, tmp_path / "cache")
    assert not check.ok
    (bad,) = [s for s in check.shards if not s.ok]
    assert bad.split == "val" and "the manifest says" in bad.problem
    with pytest.raises(DatasetError, match=r"val shard .*the manifest says"):
        fetch_dataset(store, lying, tmp_path / "cache2")

    data = json.loads(store.get(published.cid))
    data["splits"]["holdout"]["shards"][0]["cid"] = published.cid  # the manifest, not Parquet
    swapped = str(store.add_bytes(json.dumps(data).encode()))
    problems = [s.problem for s in verify_dataset(store, swapped, tmp_path / "c3").shards]
    assert any(p and "manifest says" in p for p in problems)

    absent = LocalStore(tmp_path / "empty")
    absent.add_bytes(store.get(published.cid))  # the manifest alone, no shards
    check = verify_dataset(absent, published.cid, tmp_path / "c4")
    assert [s.ok for s in check.shards] == [False] * 3
    assert all(s.problem.startswith("cannot fetch") for s in check.shards)


def test_refused_input_pins_nothing(tmp_path):
    store = LocalStore(tmp_path / "store")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,x\n3,4\n")
    with pytest.raises(DatasetError, match="line 3 has 2 fields"):
        publish_dataset(store, bad, TABULAR)
    assert store.pins() == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "dataset manifest is not JSON"),
        (b'{"format": "magnet-bitnet/1"}', "not a magnet-dataset/1 manifest"),
        (b'{"format": "magnet-dataset/1", "kind": "audio"}', "invalid dataset manifest: kind"),
    ],
)
def test_malformed_manifests_are_refused(data, message):
    with pytest.raises(DatasetError, match=message):
        parse_manifest(data)


def test_the_cli_packs_shows_and_verifies(runner, tmp_path):
    store = ["--store", str(tmp_path / "store")]
    source = table_csv(tmp_path)
    packed = runner.invoke(
        main, ["dataset", "pack", str(source), "--kind", "tabular", "--label", "y", *store]
    )
    assert packed.exit_code == 0, packed.output
    cid = packed.stdout.strip()
    assert cid.startswith("bafk") and "\n" not in cid  # the CID alone, for scripts
    shown = runner.invoke(main, ["dataset", "show", cid, "--json", *store])
    assert shown.exit_code == 0, shown.output
    manifest = json.loads(shown.stdout)
    assert manifest["cid"] == cid and manifest["classes"] == ["cat", "dog"]
    table = runner.invoke(main, ["dataset", "show", cid, *store])
    assert "holdout" in table.stdout and "tabular" in table.stdout
    verified = runner.invoke(main, ["dataset", "verify", cid, "--json", *store])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["ok"] is True

    bad = runner.invoke(
        main, ["dataset", "pack", str(source), "--kind", "tabular", "--label", "nope", *store]
    )
    assert bad.exit_code == 1
    assert "DatasetError" in bad.output and "no label column 'nope'" in bad.output


def test_roles_sharing_a_cache_can_fetch_a_dataset_at_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = LocalStore(tmp_path / "store")
    cid = publish_dataset(store, table_csv(tmp_path, n=3000), TABULAR).cid
    cache = tmp_path / "shared-cache"
    with ThreadPoolExecutor(4) as pool:
        fetched = list(pool.map(lambda _: fetch_dataset(store, cid, cache), range(8)))
    assert all(f.manifest == fetched[0].manifest for f in fetched)
    assert not list(cache.glob("*.part"))  # no partial file left behind
