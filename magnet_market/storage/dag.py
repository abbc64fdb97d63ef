"""Streaming UnixFS importer: bytes in, the same DAG (and root CID) an IPFS node's ``add`` builds.

Layout = Kubo/Helia defaults: fixed 256 KiB chunks; a *balanced* tree with at most 174 links
per node; a file of a single chunk is that chunk alone. CIDv1 uses raw leaves and dag-pb
parents; CIDv0 wraps every leaf in a dag-pb UnixFS node.

The tree is built bottom-up while data streams in: ``levels[i]`` holds the finished subtrees of
height ``i`` that still wait for a parent; when one holds 174 it collapses into a parent at once.
Memory is therefore one chunk plus at most 174 small links per level, whatever the file size.
This bottom-up grouping gives the same shape as go-unixfs' depth-first ``balanced.Layout``
(https://github.com/ipfs/boxo/blob/main/ipld/unixfs/importer/balanced/builder.go) and
js-ipfs-unixfs' ``balanced`` builder; ``tests/storage/test_dag.py`` checks that shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from magnet_market.storage import unixfs
from magnet_market.storage.cid import CID, DAG_PB, RAW

CHUNK_SIZE = 262_144  # Kubo's default `size-262144` chunker
MAX_LINKS = 174  # go-unixfs DefaultLinksPerBlock: keeps a parent node under 8 KiB

BlockSink = Callable[[CID, bytes], None]
"""Receives every block the importer creates (children before parents); ``None`` = only hash."""


@dataclass(frozen=True, slots=True)
class Node:
    """A finished subtree: its root CID, cumulative block size (dag-pb Tsize), file bytes."""

    cid: CID
    tsize: int
    filesize: int


class FileImporter:
    """Incremental file import: call :meth:`update` with data of any size, then :meth:`finish`.

    Args:
        cid_version: 1 (raw leaves, the default) or 0 (dag-pb leaves, ``Qm…``).
        sink: where to put blocks; ``None`` computes the CID only (``--only-hash``).
        max_links: fan-out; only tests change it, to reach deep trees with little data.
    """

    def __init__(
        self, cid_version: int = 1, sink: BlockSink | None = None, max_links: int = MAX_LINKS
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1, got {cid_version}")
        self._version = cid_version
        self._sink = sink
        self._max_links = max_links
        self._buf = bytearray()
        self._levels: list[list[Node]] = [[]]
        self._leaves = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Absorb more file bytes; whole chunks become leaves immediately."""
        view = memoryview(data)
        if self._buf:
            take = CHUNK_SIZE - len(self._buf)
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) < CHUNK_SIZE:
                return
            self._leaf(self._buf)
            self._buf = bytearray()
        while len(view) >= CHUNK_SIZE:
            self._leaf(view[:CHUNK_SIZE])
            view = view[CHUNK_SIZE:]
        self._buf += view

    def finish(self) -> Node:
        """Flush the last partial chunk and close every level; return the root."""
        if self._buf or self._leaves == 0:  # an empty file is one empty leaf
            self._leaf(self._buf)
            self._buf = bytearray()
        height = 0
        while True:  # ends: each pass moves every pending node one level up, towards one root
            pending = self._levels[height]
            if len(pending) == 1 and not any(self._levels[height + 1 :]):
                return pending[0]  # the top; a lone leaf is thus reduced to itself
            if pending:
                self._levels[height] = []
                self._push(height + 1, self._parent(pending))
            height += 1

    def _leaf(self, chunk: bytes | bytearray | memoryview) -> None:
        self._leaves += 1
        if self._version == 1:
            node = Node(CID.for_block(chunk, RAW), len(chunk), len(chunk))
            if self._sink:
                self._sink(node.cid, bytes(chunk))
        else:
            block = unixfs.file_leaf(bytes(chunk))
            node = Node(CID.for_block(block, DAG_PB, 0), len(block), len(chunk))
            if self._sink:
                self._sink(node.cid, block)
        self._push(0, node)

    def _push(self, height: int, node: Node) -> None:
        if height == len(self._levels):
            self._levels.append([])
        level = self._levels[height]
        level.append(node)
        if len(level) == self._max_links:
            self._levels[height] = []
            self._push(height + 1, self._parent(level))

    def _parent(self, children: list[Node]) -> Node:
        links = [unixfs.Link(c.cid, "", c.tsize) for c in children]
        block = unixfs.file_node(links, [c.filesize for c in children])
        return self._emit(block, sum(c.tsize for c in children), sum(c.filesize for c in children))

    def _emit(self, block: bytes, children_tsize: int, filesize: int) -> Node:
        cid = CID.for_block(block, DAG_PB, self._version)
        if self._sink:
            self._sink(cid, block)
        return Node(cid, len(block) + children_tsize, filesize)


def import_stream(stream: BinaryIO, cid_version: int = 1, sink: BlockSink | None = None) -> Node:
    """Import a readable binary stream chunk by chunk (constant memory)."""
    importer = FileImporter(cid_version, sink)
    while chunk := stream.read(CHUNK_SIZE):
        importer.update(chunk)
    return importer.finish()


def import_bytes(data: bytes, cid_version: int = 1, sink: BlockSink | None = None) -> Node:
    importer = FileImporter(cid_version, sink)
    importer.update(data)
    return importer.finish()


def import_directory(
    entries: Mapping[str, Node], cid_version: int = 1, sink: BlockSink | None = None
) -> Node:
    """One UnixFS directory node over already-imported children (names must not contain '/').

    Directories are never HAMT-sharded here; Kubo only shards past ~1000s of entries, far
    beyond a checkpoint plus its sidecar files.
    """
    for name in entries:
        if not name or "/" in name:
            raise ValueError(f"invalid directory entry name {name!r}")
    links = [unixfs.Link(node.cid, name, node.tsize) for name, node in entries.items()]
    block = unixfs.directory_node(links)
    cid = CID.for_block(block, DAG_PB, cid_version)
    if sink:
        sink(cid, block)
    return Node(cid, len(block) + sum(n.tsize for n in entries.values()), 0)


def import_path(
    path: str | os.PathLike[str],
    cid_version: int = 1,
    sink: BlockSink | None = None,
    wrap: bool = False,
) -> Node:
    """Import a file or a directory tree (like ``ipfs add -r``; ``wrap`` = ``-w``).

    Every file is included, dotfiles too, as Kubo's HTTP ``add`` does with the files it is sent.
    Symlinks are followed.
    """
    path = Path(path)
    if path.is_dir():
        entries = {
            child.name: import_path(child, cid_version, sink) for child in sorted(path.iterdir())
        }
        node = import_directory(entries, cid_version, sink)
    else:
        with path.open("rb") as f:
            node = import_stream(f, cid_version, sink)
    if wrap:
        return import_directory({path.name: node}, cid_version, sink)
    return node


def cid_of_bytes(data: bytes, cid_version: int = 1) -> CID:
    """The CID ``ipfs add --only-hash`` gives ``data`` (default import options)."""
    return import_bytes(data, cid_version).cid


def cid_of_path(path: str | os.PathLike[str], cid_version: int = 1, wrap: bool = False) -> CID:
    """The CID ``ipfs add --only-hash [-r] [-w]`` gives a file or directory, in constant memory."""
    return import_path(path, cid_version, wrap=wrap).cid
