"""Reading UnixFS DAGs back out of any block source, verifying every block on the way.

A store only has to say how to fetch a block's bytes (``Fetch``); this module hashes each block
against the CID that named it, so a corrupt or substituted block is a :class:`CIDMismatchError`
whatever the store. Since a parent's bytes contain its children's CIDs, checking every block
from the root down is the same as recomputing the root CID of the content.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from magnet_market._atomic import atomic_file
from magnet_market.storage import unixfs
from magnet_market.storage.cid import CID, DAG_PB, RAW
from magnet_market.storage.dag import FileImporter
from magnet_market.storage.errors import (
    CIDMismatchError,
    MalformedBlockError,
    NotAFileError,
    TruncatedContentError,
    UnsupportedCodecError,
)

Fetch = Callable[[CID], bytes]
"""Returns the stored bytes of a block (unverified) or raises ContentNotFoundError."""


def get_block(fetch: Fetch, cid: CID) -> bytes:
    """Fetch one block and check it hashes to ``cid``."""
    block = fetch(cid)
    cid.verify(block)
    return block


def child_links(cid: CID, block: bytes) -> tuple[unixfs.Link, ...]:
    """The links of a block (raw blocks have none)."""
    return unixfs.decode_node(block).links if cid.codec == DAG_PB else ()


def _unixfs(block: bytes) -> tuple[unixfs.PBNode, unixfs.UnixFSData]:
    node = unixfs.decode_node(block)
    if node.data is None:
        raise MalformedBlockError("dag-pb node carries no UnixFS data")
    return node, unixfs.decode_unixfs(node.data)


def is_directory(fetch: Fetch, cid: CID) -> bool:
    if cid.codec == RAW:
        return False
    return _unixfs(get_block(fetch, cid))[1].type == unixfs.DataType.DIRECTORY


def file_size(fetch: Fetch, cid: CID) -> int:
    """The byte size a file DAG declares in its root (the length of a raw block)."""
    block = get_block(fetch, cid)
    if cid.codec == RAW:
        return len(block)
    data = _unixfs(block)[1]
    _require_file(cid, data)
    return data.filesize if data.filesize is not None else len(data.data)


def iter_file(fetch: Fetch, cid: CID) -> Iterator[bytes]:
    """Yield a file's bytes in order, verifying each block and each declared size."""
    yield from _iter_file(fetch, cid, expected_size=None)


def _require_file(cid: CID, data: unixfs.UnixFSData) -> None:
    if data.type == unixfs.DataType.DIRECTORY:
        raise NotAFileError(f"{cid} is a directory")
    if data.type not in (unixfs.DataType.FILE, unixfs.DataType.RAW):
        raise UnsupportedCodecError(f"{cid}: UnixFS {data.type.name} nodes are not supported")


def _iter_file(fetch: Fetch, cid: CID, expected_size: int | None) -> Iterator[bytes]:
    block = get_block(fetch, cid)
    if cid.codec == RAW:
        produced = len(block)
        yield block
    else:
        node, data = _unixfs(block)
        _require_file(cid, data)
        if data.blocksizes and len(data.blocksizes) != len(node.links):
            raise MalformedBlockError(
                f"{cid}: {len(node.links)} links but {len(data.blocksizes)} block sizes"
            )
        produced = len(data.data)
        if data.data:
            yield data.data
        sizes: Iterable[int | None] = data.blocksizes or [None] * len(node.links)
        for link, size in zip(node.links, sizes, strict=True):
            for piece in _iter_file(fetch, link.cid, size):
                produced += len(piece)
                yield piece
        if data.filesize is not None and produced != data.filesize:
            raise TruncatedContentError(f"{cid}: declares {data.filesize} bytes, holds {produced}")
    if expected_size is not None and produced != expected_size:
        raise TruncatedContentError(f"{cid}: parent expects {expected_size} bytes, got {produced}")


def iter_blocks(fetch: Fetch, root: CID) -> Iterator[tuple[CID, bytes]]:
    """Every block of a DAG once, depth-first, parents before children (CAR order), verified."""
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.multihash in seen:
            continue
        seen.add(cid.multihash)
        block = get_block(fetch, cid)
        yield cid, block
        stack.extend(reversed([link.cid for link in child_links(cid, block)]))


def export_to_path(fetch: Fetch, cid: CID, dest: Path) -> None:
    """Write a file or directory DAG to ``dest``; each file appears whole or not at all."""
    node, data = _unixfs(get_block(fetch, cid)) if cid.codec == DAG_PB else (None, None)
    if node and data and data.type == unixfs.DataType.DIRECTORY:
        dest.mkdir(parents=True, exist_ok=True)
        for link in node.links:
            if link.name in ("", ".", "..") or "/" in link.name or os.sep in link.name:
                raise MalformedBlockError(f"{cid}: unsafe directory entry name {link.name!r}")
            export_to_path(fetch, link.cid, dest / link.name)
    else:
        write_stream_atomic(dest, iter_file(fetch, cid))


def write_stream_atomic(dest: Path, chunks: Iterable[bytes]) -> None:
    """Stream chunks to ``dest``; it appears only once every chunk (hence every check) passed."""
    with atomic_file(dest) as f:
        for chunk in chunks:
            f.write(chunk)


def recomputed(chunks: Iterable[bytes], expected: CID, size: int) -> Iterator[bytes]:
    """Pass file bytes through while re-importing them; fail at the end unless the CID matches.

    For sources that stream a whole file (a node's ``cat``) instead of blocks. It assumes the
    default import layout for ``expected``'s version, which is how this package adds content.
    """
    importer = FileImporter(expected.version)
    produced = 0
    for chunk in chunks:
        produced += len(chunk)
        if produced > size:
            raise CIDMismatchError(expected, None, f"more than the declared {size} bytes")
        importer.update(chunk)
        yield chunk
    if produced < size:
        raise TruncatedContentError(f"{expected}: got {produced} of {size} bytes")
    actual = importer.finish().cid
    if actual != expected:
        raise CIDMismatchError(expected, actual, "re-import of the streamed bytes")
