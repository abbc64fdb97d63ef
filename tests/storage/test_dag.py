"""The importer gives the CIDs an IPFS node gives: reference vectors, boundaries, tree shape."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path
from typing import Any

import aleph_cid
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magnet_market.storage import CHUNK_SIZE, CID, MAX_LINKS, cid_of_bytes, cid_of_path, unixfs
from magnet_market.storage.cid import RAW
from magnet_market.storage.dag import FileImporter, import_bytes, import_directory

from .conftest import DIR_VECTORS, FILE_VECTORS, vector_bytes, write_dir_vector

C = CHUNK_SIZE


@pytest.mark.parametrize("vector", FILE_VECTORS, ids=lambda v: v["name"])
def test_file_vectors(vector: dict[str, Any]) -> None:
    data = vector_bytes(vector)
    assert cid_of_bytes(data, cid_version=0).encode() == vector["cid_v0"]
    assert cid_of_bytes(data, cid_version=1).encode() == vector["cid_v1_raw"]


@pytest.mark.parametrize("vector", DIR_VECTORS, ids=lambda v: v["name"])
def test_directory_vectors(vector: dict[str, Any], tmp_path: Path) -> None:
    folder = write_dir_vector(vector, tmp_path / "d")
    assert cid_of_path(folder, cid_version=0).encode() == vector["cid_v0"]
    assert cid_of_path(folder, cid_version=1).encode() == vector["cid_v1_raw"]
    for name, cid in vector["children_v0"].items():
        assert cid_of_path(folder / name, cid_version=0).encode() == cid
    for name, cid in vector["children_v1_raw"].items():
        assert cid_of_path(folder / name, cid_version=1).encode() == cid


def test_wrap_puts_a_file_in_a_directory_named_after_it(tmp_path: Path) -> None:
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "ckpt.bin").write_bytes(os.urandom(C + 1))
    for version in (0, 1):
        wrapped = cid_of_path(tmp_path / "only" / "ckpt.bin", version, wrap=True)
        assert str(wrapped) == aleph_cid.hash_folder(tmp_path / "only", cid_version=version)


# Chunk boundaries and the 174-link boundary (174 chunks fill one node; 175 need a second level).
BOUNDARY_SIZES = [C - 1, C + 1, 2 * C, 2 * C + 1, MAX_LINKS * C, MAX_LINKS * C + 1, 175 * C + 7]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_boundary_sizes_match_aleph_cid(size: int) -> None:
    data = os.urandom(size)
    for version, make in (
        (0, aleph_cid.CidHasher.for_ipfs),
        (1, aleph_cid.CidHasher.for_ipfs_v1_raw_leaves),
    ):
        oracle = make()
        oracle.update(data)
        assert cid_of_bytes(data, version).encode() == oracle.finalize(), (size, version)


def test_nested_directory_matches_aleph_cid(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    (root / "shards").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(os.urandom(3 * C + 5))
    (root / "meta.json").write_text('{"round": 1}')
    (root / "shards" / "00").write_bytes(b"")
    for version in (0, 1):
        assert str(cid_of_path(root, version)) == aleph_cid.hash_folder(root, cid_version=version)


def test_writes_of_any_size_give_the_same_cid() -> None:
    data = os.urandom(3 * C + 17)
    importer = FileImporter()
    pos = 0
    for step in (1, 100_000, C - 1, 7, C, 2 * C):
        importer.update(data[pos : pos + step])
        pos += step
    importer.update(data[pos:])
    assert importer.finish().cid == cid_of_bytes(data)


def test_blocks_reach_the_sink_children_first_and_hash_to_their_cids() -> None:
    blocks: dict[CID, bytes] = {}
    root = import_bytes(os.urandom(5 * C), sink=blocks.__setitem__)
    assert list(blocks)[-1] == root.cid
    assert len(blocks) == 6  # five raw leaves and one parent
    for cid, block in blocks.items():
        cid.verify(block)
    parent = unixfs.decode_node(blocks[root.cid])
    assert root.tsize == len(blocks[root.cid]) + sum(link.tsize for link in parent.links)
    assert root.filesize == 5 * C


def _go_balanced_shape(n: int, max_links: int) -> Any:
    """A literal port of go-unixfs balanced.Layout, on leaf numbers instead of chunks."""
    taken = 0

    def leaf() -> int:
        nonlocal taken
        taken += 1
        return taken - 1

    def fill(node: list[Any], depth: int) -> list[Any]:
        while len(node) < max_links and taken < n:
            node.append(leaf() if depth == 1 else fill([], depth - 1))
        return node

    root: Any = leaf()
    depth = 1
    while taken < n:
        root = fill([root], depth)
        depth += 1
    return root


def _shape(blocks: dict[CID, bytes], cid: CID) -> Any:
    block = blocks[cid]
    if cid.codec == RAW:
        return int.from_bytes(block[:4], "big")
    return [_shape(blocks, link.cid) for link in unixfs.decode_node(block).links]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 9, 10, 12, 13, 27, 28, 31])
def test_tree_shape_matches_go_balanced_layout(n: int) -> None:
    """With 3 links per node the depth boundaries (3, 9, 27 leaves) come with little data."""
    blocks: dict[CID, bytes] = {}
    importer = FileImporter(sink=blocks.__setitem__, max_links=3)
    for i in range(n):
        importer.update(i.to_bytes(4, "big") * (C // 4))
    root = importer.finish()
    assert _shape(blocks, root.cid) == _go_balanced_shape(n, 3)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="cid_version"):
        FileImporter(cid_version=2)
    with pytest.raises(ValueError, match="entry name"):
        import_directory({"a/b": import_bytes(b"")})


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(0, 3 * C + 10),
    cuts=st.lists(st.integers(0, 3 * C + 10), max_size=6),
    version=st.sampled_from([0, 1]),
)
def test_any_size_and_any_write_pattern_match_aleph_cid(
    size: int, cuts: list[int], version: int
) -> None:
    data = random.Random(size).randbytes(size)
    importer = FileImporter(cid_version=version)
    edges = [0, *sorted(min(c, size) for c in cuts), size]
    for start, end in itertools.pairwise(edges):
        importer.update(data[start:end])
    oracle = (
        aleph_cid.CidHasher.for_ipfs_v1_raw_leaves() if version else aleph_cid.CidHasher.for_ipfs()
    )
    oracle.update(data)
    assert importer.finish().cid.encode() == oracle.finalize()
