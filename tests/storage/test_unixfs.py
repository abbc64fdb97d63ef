"""dag-pb / UnixFS codec: byte-exact encodings and refusal of malformed or hostile blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from magnet_market.storage import (
    CID,
    LocalStore,
    MalformedBlockError,
    UnsupportedCodecError,
    cid_of_bytes,
    unixfs,
)
from magnet_market.storage.cid import DAG_PB


def test_empty_file_node_is_the_well_known_block() -> None:
    block = unixfs.file_leaf(b"")
    assert block == bytes.fromhex("0a0408021800")
    assert CID.for_block(block, DAG_PB, 0).encode() == (
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    )


def test_node_round_trip() -> None:
    child = cid_of_bytes(b"x")
    links = [unixfs.Link(child, "b", 1), unixfs.Link(child, "a", 1)]
    block = unixfs.directory_node(links)
    node = unixfs.decode_node(block)
    assert [link.name for link in node.links] == ["a", "b"]  # sorted, as Kubo writes them
    assert node.data is not None
    assert unixfs.decode_unixfs(node.data).type == unixfs.DataType.DIRECTORY


@pytest.mark.parametrize(
    "block",
    [
        b"\x0a\x05abc",  # Data field longer than the block
        b"\x1a\x00",  # field 3 is not part of PBNode
        b"\x0b",  # wire type 3 (groups) is not protobuf we accept
        b"\x12\x02\x12\x00",  # a link without a Hash
        b"\x12\x04\x0a\x02\x12\x20",  # a link whose Hash is a truncated CID
        b"\x0a\x80",  # truncated varint
    ],
)
def test_malformed_blocks(block: bytes) -> None:
    with pytest.raises(MalformedBlockError):
        unixfs.decode_node(block)


def _put_dir(store: LocalStore, name: str) -> CID:
    child = store.add_bytes(b"payload", pin=False)
    block = unixfs.encode_node(
        [unixfs.Link(child, name, 7)], unixfs.encode_unixfs(unixfs.DataType.DIRECTORY)
    )
    cid = CID.for_block(block, DAG_PB)
    store.put_block(cid, block)
    return cid


@pytest.mark.parametrize("name", ["..", ".", ""])
def test_hostile_entry_names_never_escape_the_destination(
    local: LocalStore, tmp_path: Path, name: str
) -> None:
    cid = _put_dir(local, name)
    with pytest.raises(MalformedBlockError, match="unsafe"):
        local.get_to_path(cid, tmp_path / "out" / "inner")
    assert not (tmp_path / "out" / "payload").exists()


def test_sharded_directories_are_refused_clearly(local: LocalStore) -> None:
    block = unixfs.encode_node([], unixfs.encode_unixfs(unixfs.DataType.HAMT_SHARD))
    cid = CID.for_block(block, DAG_PB)
    local.put_block(cid, block)
    with pytest.raises(UnsupportedCodecError, match="HAMT_SHARD"):
        local.get(cid)
