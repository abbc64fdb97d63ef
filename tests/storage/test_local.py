"""LocalStore: round trips, verification on every read, pins and garbage collection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from magnet_market.storage import (
    CHUNK_SIZE,
    CID,
    CIDMismatchError,
    ContentNotFoundError,
    ContentStore,
    LocalStore,
    NotAFileError,
    TruncatedContentError,
    cid_of_bytes,
    unixfs,
)
from magnet_market.storage.cid import DAG_PB

C = CHUNK_SIZE


def _block_files(store: LocalStore) -> list[Path]:
    return sorted(p for p in (store.root / "blocks").glob("*/*"))


def test_is_a_content_store(local: LocalStore) -> None:
    assert isinstance(local, ContentStore)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [0, 11, C, 3 * C + 5])
def test_add_get_round_trip(local: LocalStore, version: int, size: int) -> None:
    data = os.urandom(size)
    cid = local.add_bytes(data, cid_version=version)
    assert cid == cid_of_bytes(data, version)
    assert local.get(cid) == data
    assert local.get(str(cid)) == data
    assert b"".join(local.open(cid)) == data
    assert local.has(cid)


def test_directory_round_trip(local: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "ckpt"
    (src / "sub").mkdir(parents=True)
    (src / "model.safetensors").write_bytes(os.urandom(2 * C + 3))
    (src / "sub" / "meta.json").write_text("{}")
    cid = local.add_path(src, wrap=True)
    out = local.get_to_path(cid, tmp_path / "out")
    assert (out / "ckpt" / "model.safetensors").read_bytes() == (
        src / "model.safetensors"
    ).read_bytes()
    assert (out / "ckpt" / "sub" / "meta.json").read_text() == "{}"
    with pytest.raises(NotAFileError):
        local.get(cid)


def test_blocks_are_keyed_by_multihash(local: LocalStore) -> None:
    data = os.urandom(2 * C)
    local.add_bytes(data, cid_version=1)
    count = len(_block_files(local))
    local.add_bytes(data, cid_version=1)
    assert len(_block_files(local)) == count  # same content, no new block
    v0 = local.add_bytes(data, cid_version=0)
    assert len(_block_files(local)) == 2 * count  # dag-pb leaves are other blocks than raw ones
    # A CIDv1 naming the v0 root's block reads the same file: the store keys on the multihash.
    assert local.get(v0.to_v1()) == data


def test_writes_leave_no_temporary_files(local: LocalStore) -> None:
    local.add_bytes(os.urandom(3 * C))
    leftovers = [p for p in local.root.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_corrupt_block_is_a_mismatch_not_a_silent_accept(local: LocalStore) -> None:
    data = os.urandom(2 * C)
    cid = local.add_bytes(data)
    leaf = next(p for p in _block_files(local) if p.stat().st_size == C)
    leaf.write_bytes(b"\0" * C)
    with pytest.raises(CIDMismatchError):
        local.get(cid)
    with pytest.raises(CIDMismatchError):
        local.get_to_path(cid, local.root.parent / "out.bin")
    assert not (local.root.parent / "out.bin").exists()


def test_missing_block_is_not_found(local: LocalStore) -> None:
    cid = local.add_bytes(os.urandom(2 * C))
    next(p for p in _block_files(local) if p.stat().st_size == C).unlink()
    with pytest.raises(ContentNotFoundError):
        local.get(cid)
    with pytest.raises(ContentNotFoundError):
        local.pin(cid)  # a pin needs the whole DAG
    with pytest.raises(ContentNotFoundError):
        local.get(cid_of_bytes(b"never added"))


def test_dag_declaring_more_bytes_than_it_holds_is_truncated(local: LocalStore) -> None:
    leaf = local.add_bytes(b"x" * 10, pin=False)
    # A well-formed parent whose size fields claim 20 bytes for a 10-byte child.
    block = unixfs.encode_node(
        [unixfs.Link(leaf, "", 10)], unixfs.encode_unixfs(unixfs.DataType.FILE, b"", 20, [20])
    )
    parent = CID.for_block(block, DAG_PB)
    local.put_block(parent, block)
    with pytest.raises(TruncatedContentError):
        local.get(parent)


def test_put_block_verifies(local: LocalStore) -> None:
    with pytest.raises(CIDMismatchError):
        local.put_block(cid_of_bytes(b"a"), b"b")


def test_pins_and_gc(local: LocalStore) -> None:
    keep = os.urandom(3 * C)
    drop = os.urandom(2 * C)
    shared = keep[:C] + os.urandom(5)  # first leaf shared with `keep`
    keep_cid, drop_cid = local.add_bytes(keep), local.add_bytes(drop)
    shared_cid = local.add_bytes(shared, pin=False)
    assert set(local.pins()) == {keep_cid, drop_cid}

    local.unpin(drop_cid)
    with pytest.raises(ContentNotFoundError):
        local.unpin(drop_cid)
    removed = local.gc()
    # drop: 2 leaves + root; shared: 1 own leaf + root (its first leaf is keep's)
    assert removed == 5
    assert local.get(keep_cid) == keep
    assert not local.has(drop_cid) and not local.has(shared_cid)
    assert local.gc() == 0

    local.pin(keep_cid)  # idempotent
    assert local.pins() == [keep_cid]


def test_default_root_is_under_magnet_home(magnet_home: Path) -> None:
    assert LocalStore().root == magnet_home / "ipfs"
