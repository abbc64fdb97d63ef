"""Whole-file and to-disk reads for stores backed by an IPFS node (Kubo RPC or ipfshttpclient)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from magnet_market.storage import reader
from magnet_market.storage.cid import CID


class NodeReads:
    """``get`` and ``get_to_path`` on top of a node store's ``open`` (a verified file stream)
    and ``_fetch`` (one verified block): files stream, directories are rebuilt block by block."""

    def open(self, cid: CID | str) -> Iterator[bytes]:
        raise NotImplementedError

    def _fetch(self, cid: CID) -> bytes:
        raise NotImplementedError

    def get(self, cid: CID | str) -> bytes:
        """A file's bytes, verified."""
        return b"".join(self.open(cid))

    def get_to_path(self, cid: CID | str, dest: str | os.PathLike[str]) -> Path:
        """Write a file or directory to ``dest``; only verified files are left behind."""
        cid, dest = CID.parse(cid), Path(dest)
        if reader.is_directory(self._fetch, cid):
            reader.export_to_path(self._fetch, cid, dest)
        else:
            reader.write_stream_atomic(dest, self.open(cid))
        return dest
