"""The one interface every content store offers, so roles never care which store they hold."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from magnet_market.storage.cid import CID


@runtime_checkable
class ContentStore(Protocol):
    """Add content, get it back verified, and keep it (pins).

    Implemented by :class:`~magnet_market.storage.local.LocalStore` (embedded, on disk) and
    :class:`~magnet_market.storage.kubo.KuboStore` (an IPFS node over HTTP). Both give the
    same CID for the same bytes and the same options, and both raise
    :class:`~magnet_market.storage.errors.CIDMismatchError` rather than return bad bytes.
    ``cid`` arguments accept a :class:`CID` or its string form.
    """

    def add_bytes(self, data: bytes, *, cid_version: int = 1, pin: bool = True) -> CID:
        """Store ``data`` as a UnixFS file; return its CID."""
        ...

    def add_path(
        self,
        path: str | os.PathLike[str],
        *,
        cid_version: int = 1,
        wrap: bool = False,
        pin: bool = True,
    ) -> CID:
        """Store a file or a directory tree (``wrap``: inside a directory named after it)."""
        ...

    def open(self, cid: CID | str) -> Iterator[bytes]:
        """Stream a file's bytes; a mismatch is raised before the stream ends."""
        ...

    def get(self, cid: CID | str) -> bytes:
        """A file's bytes, verified."""
        ...

    def get_to_path(self, cid: CID | str, dest: str | os.PathLike[str]) -> Path:
        """Write a file or directory to ``dest``; only verified files are left behind."""
        ...

    def has(self, cid: CID | str) -> bool:
        """Whether the store holds the root block of ``cid`` (without fetching elsewhere)."""
        ...

    def pin(self, cid: CID | str) -> None:
        """Keep the whole DAG of ``cid`` through garbage collection."""
        ...

    def unpin(self, cid: CID | str) -> None:
        """Release a pin; the blocks go at the next garbage collection."""
        ...

    def pins(self) -> list[CID]:
        """The recursively pinned roots."""
        ...

    def export_car(self, cid: CID | str, out: IO[bytes]) -> None:
        """Write the DAG of ``cid`` as a CARv1 with ``cid`` as its root."""
        ...

    def import_car(self, inp: IO[bytes], *, pin: bool = True) -> list[CID]:
        """Load every block of a CARv1 (each verified); return its roots, pinned by default."""
        ...
