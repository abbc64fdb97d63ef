"""dag-pb nodes carrying UnixFS data: the block format of IPFS files and directories.

A hand-written protobuf codec for exactly two messages, so that the bytes we produce are the
bytes Kubo and Helia produce (field order, omitted empty fields) and no protobuf runtime is
needed::

    message PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
    message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }   // Links written first
    message Data   { required DataType Type = 1; optional bytes Data = 2;
                     optional uint64 filesize = 3; repeated uint64 blocksizes = 4; }

References: https://ipld.io/specs/codecs/dag-pb/spec/, https://github.com/ipfs/specs/blob/main/UNIXFS.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

from magnet_market.storage import _varint
from magnet_market.storage.cid import CID
from magnet_market.storage.errors import InvalidCIDError, MalformedBlockError

_VARINT, _BYTES = 0, 2  # protobuf wire types


class DataType(IntEnum):
    """UnixFS node types (only FILE, RAW and DIRECTORY are produced or read here)."""

    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


@dataclass(frozen=True, slots=True)
class Link:
    """A dag-pb link: child CID, name (empty for file chunks) and cumulative DAG size."""

    cid: CID
    name: str
    tsize: int


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[Link, ...]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: DataType
    data: bytes
    filesize: int | None
    blocksizes: tuple[int, ...]


# --- protobuf wire helpers -------------------------------------------------------------------


def _key(field: int, wire: int) -> bytes:
    return bytes(((field << 3) | wire,))


def _bytes_field(field: int, value: bytes) -> bytes:
    return _key(field, _BYTES) + _varint.encode(len(value)) + value


def _uint_field(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint.encode(value)


def _fields(buf: bytes | memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """Yield ``(field, value)``: an ``int`` for a varint field, a view for a length-delimited one.

    Those are the only two wire types accepted, so the value's type tells them apart.
    """
    view = memoryview(buf)
    pos = 0
    try:
        while pos < len(view):
            key, pos = _varint.decode(view, pos)
            field, wire = key >> 3, key & 7
            if wire == _VARINT:
                value, pos = _varint.decode(view, pos)
                yield field, value
            elif wire == _BYTES:
                length, pos = _varint.decode(view, pos)
                if pos + length > len(view):
                    raise MalformedBlockError("protobuf field runs past the end of the block")
                yield field, view[pos : pos + length]
                pos += length
            else:
                raise MalformedBlockError(f"unexpected protobuf wire type {wire}")
    except _varint.VarintError as e:
        raise MalformedBlockError(f"bad protobuf varint: {e}") from None


# --- dag-pb ----------------------------------------------------------------------------------


def encode_link(link: Link) -> bytes:
    body = (
        _bytes_field(1, link.cid.to_bytes())
        + _bytes_field(2, link.name.encode("utf-8"))
        + _uint_field(3, link.tsize)
    )
    return _bytes_field(2, body)


def encode_node(links: Sequence[Link], data: bytes | None) -> bytes:
    """Serialize a dag-pb node; links keep the given order (callers sort directory entries)."""
    out = b"".join(encode_link(link) for link in links)
    return out if data is None else out + _bytes_field(1, data)


def decode_node(block: bytes | memoryview) -> PBNode:
    """Parse a dag-pb block; raise :class:`MalformedBlockError` if it is not one."""
    links: list[Link] = []
    data: bytes | None = None
    for field, value in _fields(block):
        if field == 2 and isinstance(value, memoryview):
            links.append(_decode_link(value))
        elif field == 1 and isinstance(value, memoryview):
            data = bytes(value)
        else:
            raise MalformedBlockError(f"unexpected dag-pb field {field}")
    return PBNode(tuple(links), data)


def _decode_link(buf: memoryview) -> Link:
    cid: CID | None = None
    name, tsize = "", 0
    for field, value in _fields(buf):
        if field == 1 and isinstance(value, memoryview):
            try:
                cid = CID.from_bytes(value)
            except InvalidCIDError as e:
                raise MalformedBlockError(f"bad link CID: {e}") from None
        elif field == 2 and isinstance(value, memoryview):
            name = bytes(value).decode("utf-8")
        elif field == 3 and isinstance(value, int):
            tsize = value
        else:
            raise MalformedBlockError(f"unexpected dag-pb link field {field}")
    if cid is None:
        raise MalformedBlockError("dag-pb link without a Hash")
    return Link(cid, name, tsize)


# --- UnixFS ----------------------------------------------------------------------------------


def encode_unixfs(
    type_: DataType,
    data: bytes = b"",
    filesize: int | None = None,
    blocksizes: Sequence[int] = (),
) -> bytes:
    """Serialize a UnixFS ``Data`` message the way go-unixfs does (empty data omitted)."""
    out = _uint_field(1, type_)
    if data:
        out += _bytes_field(2, data)
    if filesize is not None:
        out += _uint_field(3, filesize)
    return out + b"".join(_uint_field(4, size) for size in blocksizes)


def decode_unixfs(buf: bytes) -> UnixFSData:
    type_: int | None = None
    data, filesize, sizes = b"", None, []
    for field, value in _fields(buf):
        if field == 1 and isinstance(value, int):
            type_ = value
        elif field == 2 and isinstance(value, memoryview):
            data = bytes(value)
        elif field == 3 and isinstance(value, int):
            filesize = value
        elif field == 4 and isinstance(value, int):
            sizes.append(value)
        elif field in (5, 6, 7, 8):  # hashType, fanout, mode, mtime: irrelevant to content
            continue
        else:
            raise MalformedBlockError(f"unexpected UnixFS field {field}")
    if type_ is None or type_ not in DataType._value2member_map_:
        raise MalformedBlockError(f"missing or unknown UnixFS type {type_}")
    return UnixFSData(DataType(type_), data, filesize, tuple(sizes))


def file_leaf(chunk: bytes) -> bytes:
    """A CIDv0-style leaf: the chunk wrapped in a dag-pb node (``--raw-leaves=false``)."""
    return encode_node((), encode_unixfs(DataType.FILE, chunk, len(chunk)))


def file_node(links: Sequence[Link], blocksizes: Sequence[int]) -> bytes:
    """An internal file node: links to chunks or subtrees plus each child's file size."""
    unixfs = encode_unixfs(DataType.FILE, b"", sum(blocksizes), blocksizes)
    return encode_node(links, unixfs)


def directory_node(links: Sequence[Link]) -> bytes:
    """A plain (unsharded) directory; entries sorted by their UTF-8 name bytes as Kubo does."""
    ordered = sorted(links, key=lambda link: link.name.encode("utf-8"))
    return encode_node(ordered, encode_unixfs(DataType.DIRECTORY))
