"""A sealed holdout: sliced and sealed at pack time, kept sealed in every cache, opened only by
its round's key (or a later one), refused when the key or a byte is wrong."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from magnet_market.app.datasets import fetch_dataset, publish_dataset, verify_dataset
from magnet_market.app.holdout_keys import HoldoutKeysError, keys_path, load_keys
from magnet_market.datasets import DatasetError, PackOptions, parse_manifest
from magnet_market.datasets.holdout import open_slice
from magnet_market.datasets.seal import earlier_key, key_chain, links_to, new_seed, seal, unseal
from magnet_market.storage import LocalStore
from magnet_market.tasks.series_dataset import SeriesDatasetData
from magnet_market.tasks.tabular import TabularData
from tests.datasets.test_pack import table_csv, write_csv

SEALED = PackOptions("tabular", label="y", holdout_fraction=0.2, holdout_slices=3)


@pytest.fixture
def sealed(tmp_path):
    store = LocalStore(tmp_path / "store")
    return store, publish_dataset(store, table_csv(tmp_path), SEALED)


def test_the_holdout_is_sliced_sealed_and_its_seed_kept_for_the_sponsor_only(sealed, tmp_path):
    store, published = sealed
    manifest = published.manifest
    assert manifest.seal is not None and manifest.slices == 3
    holdout = manifest.splits["holdout"]
    assert holdout.rows == sum(s.rows for s in holdout.shards) > 40  # about 20 % of 400 rows
    assert max(s.rows for s in holdout.shards) - min(s.rows for s in holdout.shards) <= 1
    for shard in holdout.shards:  # nobody reads a slice as Parquet without its key
        with pytest.raises(pa.ArrowInvalid, match=r"Parquet|magic"):
            pq.read_table(_stored(store, shard.cid, tmp_path))
    assert os.stat(keys_path(published.cid)).st_mode & 0o777 == 0o600
    keys = load_keys(published.cid, manifest)
    assert len(keys) == 3 and links_to(keys[0], 0, manifest.seal.head_bytes, 0)
    again = publish_dataset(LocalStore(tmp_path / "other"), table_csv(tmp_path), SEALED)
    assert again.cid != published.cid  # a fresh seed: a repacked holdout is another secret
    assert again.manifest.splits["train"] == manifest.splits["train"]


def test_a_verified_dataset_keeps_its_slices_sealed_until_a_key_opens_them(sealed, tmp_path):
    store, published = sealed
    assert verify_dataset(store, published.cid, tmp_path / "c").ok  # sizes and CIDs, not content
    local = fetch_dataset(store, published.cid, tmp_path / "cache")
    with pytest.raises(DatasetError, match="sealed"):
        local.read("holdout")
    with pytest.raises(DatasetError, match="still sealed"):
        local.read("holdout:1")
    keys = load_keys(published.cid, published.manifest)
    with pytest.raises(DatasetError, match="does not open with this key"):
        open_slice(local, 1, keys[0])
    with pytest.raises(DatasetError, match="does not open with this key"):
        open_slice(local, 1, keys[2])  # a later round's key is not this one
    open_slice(local, 1, earlier_key(keys[2], 2, 1))  # but gives it
    assert local.read("holdout:1").num_rows == published.manifest.splits["holdout"].shards[1].rows
    with pytest.raises(DatasetError, match="no slice 3"):
        open_slice(local, 3, keys[2])
    data = TabularData(dataset_dir=local.folder, judged_split="holdout:1")
    assert len(data.val_y) == published.manifest.splits["holdout"].shards[1].rows


def test_an_altered_slice_is_refused_even_with_the_right_key(tmp_path):
    keys = key_chain(new_seed(), 2)
    sealed_bytes = bytearray(seal(b"PAR1 rows PAR1", keys[1]))
    assert unseal(bytes(sealed_bytes), keys[1], "slice 1") == b"PAR1 rows PAR1"
    sealed_bytes[3] ^= 1
    with pytest.raises(DatasetError, match="slice 1: does not open"):
        unseal(bytes(sealed_bytes), keys[1], "slice 1")
    with pytest.raises(DatasetError, match="too short"):
        unseal(b"short", keys[1], "slice 1")


def test_the_keys_file_must_match_the_manifest(sealed, tmp_path):
    _, published = sealed
    path = keys_path(published.cid)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "seed": new_seed().hex()}))
    with pytest.raises(HoldoutKeysError, match="do not open"):
        load_keys(published.cid, published.manifest)
    path.write_text("{}")
    with pytest.raises(HoldoutKeysError, match="not a holdout keys file") as e:
        load_keys(published.cid, published.manifest)
    assert record["seed"] not in str(e.value)
    path.unlink()
    with pytest.raises(HoldoutKeysError, match="only the sponsor that packed it"):
        load_keys(published.cid, published.manifest)


def test_a_sealed_series_is_judged_on_a_slice_after_everything_before_it(tmp_path):
    store = LocalStore(tmp_path / "store")
    options = PackOptions("series", time="t", holdout_fraction=0.3, holdout_slices=2)
    rows = [(t, 100 + (t * 37) % 23 - (t % 5)) for t in range(400)]
    published = publish_dataset(store, write_csv(tmp_path / "s.csv", ["t", "v"], rows), options)
    local = fetch_dataset(store, published.cid, tmp_path / "cache")
    keys = load_keys(published.cid, published.manifest)
    for r in range(2):
        open_slice(local, r, keys[r])
    assert local.reads_through("holdout:1") == ["train", "val", "holdout:0", "holdout:1"]
    first = local.read("holdout:0").column("t").to_pylist()
    second = local.read("holdout:1").column("t").to_pylist()
    assert first[-1] < second[0]  # slices follow time: round 0 is judged on the earlier rows
    data = SeriesDatasetData(dataset_dir=local.folder, judged_split="holdout:1")
    assert 0 < len(data.val_y) < published.manifest.splits["holdout"].shards[1].rows


def test_too_few_holdout_rows_for_the_slices_is_refused_before_anything_is_pinned(tmp_path):
    store = LocalStore(tmp_path / "store")
    options = PackOptions("tabular", label="y", holdout_slices=120)
    with pytest.raises(DatasetError, match="too few for 120 slices"):
        publish_dataset(store, table_csv(tmp_path), options)
    assert not any(p.is_file() for p in (tmp_path / "store").rglob("*"))
    with pytest.raises(DatasetError, match="holdout slices must be 0 to 120"):
        PackOptions("tabular", label="y", holdout_slices=121)


def test_a_manifest_claiming_a_seal_without_slices_is_refused(sealed):
    store, published = sealed
    data = json.loads(store.get(published.cid))
    data["splits"]["holdout"] = {"rows": 0, "shards": []}
    data["source"]["rows"] -= published.manifest.splits["holdout"].rows
    with pytest.raises(DatasetError, match="sealed holdout needs at least one slice"):
        parse_manifest(json.dumps(data).encode())


def _stored(store, cid, tmp_path):
    path = tmp_path / f"{cid}.bin"
    store.get_to_path(cid, path)
    return path


def test_a_sealed_dataset_travels_through_a_real_ipfs_node(kubo, tmp_path):
    """Pinned on the daemon, fetched back by CID (slices still sealed), opened by the key."""
    published = publish_dataset(kubo, table_csv(tmp_path), SEALED)
    local = fetch_dataset(kubo, published.cid, tmp_path / "cache")
    keys = load_keys(published.cid, published.manifest)
    open_slice(local, 2, keys[2])
    rows = published.manifest.splits["holdout"].shards[2].rows
    assert local.read("holdout:2").num_rows == rows
    assert TabularData(dataset_dir=local.folder, judged_split="holdout:2").val_y.shape[0] == rows
