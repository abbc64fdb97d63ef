"""KuboStore against a real IPFS daemon: node CIDs equal local ones, content round-trips."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest

from magnet_market.storage import (
    CHUNK_SIZE,
    ContentNotFoundError,
    ContentStore,
    KuboStore,
    LocalStore,
    NotAFileError,
    cid_of_bytes,
)

from .conftest import DIR_VECTORS, FILE_VECTORS, vector_bytes, write_dir_vector


def test_node_identity(kubo: KuboStore) -> None:
    assert isinstance(kubo, ContentStore)
    assert kubo.version()["Version"]
    assert kubo.id()["ID"]


@pytest.mark.parametrize("vector", FILE_VECTORS, ids=lambda v: v["name"])
def test_node_cids_match_vectors(kubo: KuboStore, vector: dict[str, Any]) -> None:
    data = vector_bytes(vector)
    assert kubo.add_bytes(data, cid_version=0).encode() == vector["cid_v0"]
    assert kubo.add_bytes(data, cid_version=1).encode() == vector["cid_v1_raw"]
    assert kubo.get(vector["cid_v1_raw"]) == data
    assert kubo.get(vector["cid_v0"]) == data


@pytest.mark.parametrize("vector", DIR_VECTORS, ids=lambda v: v["name"])
def test_node_directory_cids_match_vectors(
    kubo: KuboStore, vector: dict[str, Any], tmp_path: Path
) -> None:
    folder = write_dir_vector(vector, tmp_path / "d")
    assert kubo.add_path(folder, cid_version=0).encode() == vector["cid_v0"]
    cid = kubo.add_path(folder, cid_version=1)
    assert cid.encode() == vector["cid_v1_raw"]
    out = kubo.get_to_path(cid, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.bin"]
    assert (out / "b.bin").read_bytes() == bytes(range(256))
    with pytest.raises(NotAFileError):
        kubo.get(cid)


def test_past_the_link_boundary_through_the_node(kubo: KuboStore, tmp_path: Path) -> None:
    """175 chunks: a two-level tree; the upload streams from disk."""
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(175 * CHUNK_SIZE + 7))
    cid = kubo.add_path(path)
    assert cid == cid_of_bytes(path.read_bytes())
    kubo.get_to_path(cid, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == path.read_bytes()


def test_wrapped_nested_directory(kubo: KuboStore, local: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "ckpt"
    (src / "sub dir").mkdir(parents=True)
    (src / "model.safetensors").write_bytes(os.urandom(CHUNK_SIZE + 1))
    (src / "sub dir" / "notes %.txt").write_text("escaped names")
    for version in (0, 1):
        assert kubo.add_path(src, cid_version=version, wrap=True) == local.add_path(
            src, cid_version=version, wrap=True
        )


def test_offline_content_published_later_keeps_its_cid(kubo: KuboStore, tmp_path: Path) -> None:
    """LocalStore → CAR → node → CAR → another LocalStore, byte for byte."""
    data = os.urandom(4 * CHUNK_SIZE + 123)
    offline = LocalStore(tmp_path / "offline")
    cid = offline.add_bytes(data)
    car_file = io.BytesIO()
    offline.export_car(cid, car_file)

    assert not kubo.has(cid)
    assert kubo.import_car(car_file) == [cid]
    assert kubo.has(cid) and cid in kubo.pins()
    assert kubo.get(cid) == data

    from_node = io.BytesIO()
    kubo.export_car(cid, from_node)
    fresh = LocalStore(tmp_path / "fresh")
    assert fresh.import_car(io.BytesIO(from_node.getvalue())) == [cid]
    assert fresh.get(cid) == data


def test_pins(kubo: KuboStore) -> None:
    cid = kubo.add_bytes(os.urandom(1000), pin=False)
    assert kubo.has(cid)
    assert cid not in kubo.pins()
    kubo.pin(cid)
    assert cid in kubo.pins()
    kubo.unpin(cid)
    assert cid not in kubo.pins()
    with pytest.raises(ContentNotFoundError):
        kubo.unpin(cid)


def test_missing_content_fails_within_the_timeout(ipfs_node: Any) -> None:
    absent = cid_of_bytes(b"no node has this " + os.urandom(16))
    with KuboStore(ipfs_node.api_url, timeout=1) as store:
        assert not store.has(absent)
        start = time.monotonic()
        with pytest.raises(ContentNotFoundError):
            store.get(absent)
        assert time.monotonic() - start < 5
