"""LocalStore: the embedded content store, a block store in a folder (``$MAGNET_HOME/ipfs``).

Layout::

    <root>/blocks/<2 chars>/<base32 multihash>   one file per block, written atomically
    <root>/pins/<CID>                            one empty file per recursive pin
    <root>/lock                                  adds share it, garbage collection takes it alone

Blocks are keyed by multihash, as in Kubo, so a CIDv0 and a CIDv1 of the same block share one
file. The shard is the next-to-last two characters of the key (Kubo's flatfs ``next-to-last/2``),
which spreads blocks evenly because the key ends in hash bits.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from magnet_market._atomic import write_atomic
from magnet_market.config import magnet_home
from magnet_market.storage import car, dag, reader
from magnet_market.storage.cid import CID, RAW
from magnet_market.storage.errors import ContentNotFoundError


class LocalStore:
    """A content store on local disk; see the module docstring for the layout.

    Args:
        root: the store's folder, created on first use; default ``$MAGNET_HOME/ipfs``
            (``~/.magnet/ipfs``).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else magnet_home() / "ipfs"
        self._blocks = self.root / "blocks"
        self._pins = self.root / "pins"
        for folder in (self._blocks, self._pins):
            folder.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # --- blocks ----------------------------------------------------------------------------

    def _block_path(self, cid: CID) -> Path:
        key = base64.b32encode(cid.multihash).decode().rstrip("=").lower()
        return self._blocks / key[-3:-1] / key

    def _write_block(self, cid: CID, data: bytes) -> None:
        path = self._block_path(cid)
        if not path.exists():  # content-addressed: an existing file already holds these bytes
            write_atomic(path, data)

    def _fetch(self, cid: CID) -> bytes:
        try:
            return self._block_path(cid).read_bytes()
        except FileNotFoundError:
            raise ContentNotFoundError(f"block {cid} is not in {self.root}") from None

    def put_block(self, cid: CID | str, data: bytes) -> None:
        """Store one block after checking it hashes to ``cid``."""
        cid = CID.parse(cid)
        cid.verify(data)
        self._write_block(cid, data)

    def get_block(self, cid: CID | str) -> bytes:
        """One block's bytes, verified."""
        return reader.get_block(self._fetch, CID.parse(cid))

    @contextlib.contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        with (self.root / "lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # --- ContentStore ------------------------------------------------------------------------

    def add_bytes(self, data: bytes, *, cid_version: int = 1, pin: bool = True) -> CID:
        with self._lock(exclusive=False):
            cid = dag.import_bytes(data, cid_version, self._write_block).cid
            if pin:
                self._pin_file(cid)
        return cid

    def add_path(
        self,
        path: str | os.PathLike[str],
        *,
        cid_version: int = 1,
        wrap: bool = False,
        pin: bool = True,
    ) -> CID:
        with self._lock(exclusive=False):
            cid = dag.import_path(path, cid_version, self._write_block, wrap=wrap).cid
            if pin:
                self._pin_file(cid)
        return cid

    def open(self, cid: CID | str) -> Iterator[bytes]:
        return reader.iter_file(self._fetch, CID.parse(cid))

    def get(self, cid: CID | str) -> bytes:
        return b"".join(self.open(cid))

    def get_to_path(self, cid: CID | str, dest: str | os.PathLike[str]) -> Path:
        dest = Path(dest)
        reader.export_to_path(self._fetch, CID.parse(cid), dest)
        return dest

    def has(self, cid: CID | str) -> bool:
        return self._block_path(CID.parse(cid)).exists()

    def pin(self, cid: CID | str) -> None:
        """Pin ``cid`` after checking that every block of its DAG is present and intact."""
        cid = CID.parse(cid)
        with self._lock(exclusive=False):
            self._pin_complete(cid)

    def _pin_complete(self, cid: CID) -> None:
        for _ in reader.iter_blocks(self._fetch, cid):  # raises on a missing or corrupt block
            pass
        self._pin_file(cid)

    def _pin_file(self, cid: CID) -> None:
        write_atomic(self._pins / str(cid), b"")

    def unpin(self, cid: CID | str) -> None:
        cid = CID.parse(cid)
        try:
            (self._pins / str(cid)).unlink()
        except FileNotFoundError:
            raise ContentNotFoundError(f"{cid} is not pinned") from None

    def pins(self) -> list[CID]:
        names = (p.name for p in self._pins.iterdir())
        return sorted((CID.parse(n) for n in names if not n.startswith(".")), key=str)  # .tmp

    def export_car(self, cid: CID | str, out: IO[bytes]) -> None:
        cid = CID.parse(cid)
        car.write_car([cid], reader.iter_blocks(self._fetch, cid), out)

    def import_car(self, inp: IO[bytes], *, pin: bool = True) -> list[CID]:
        roots = car.read_header(inp)
        with self._lock(exclusive=False):
            for cid, data in car.iter_blocks(inp):  # verified by the reader
                self._write_block(cid, data)
            if pin:
                for root in roots:
                    self._pin_complete(root)
        return roots

    # --- garbage collection -----------------------------------------------------------------

    def gc(self) -> int:
        """Delete every block no pin reaches; return how many were deleted.

        Takes the store lock exclusively, so an add (which writes blocks before pinning them)
        never loses its blocks to a concurrent collection.
        """
        with self._lock(exclusive=True):
            live: set[str] = set()
            for root in self.pins():
                self._mark(root, live)
            removed = 0
            for path in self._blocks.glob("*/*"):
                if path.name not in live and not path.name.startswith("."):
                    path.unlink()
                    removed += 1
            return removed

    def _mark(self, root: CID, live: set[str]) -> None:
        """Add the keys of ``root``'s DAG to ``live``; raw leaves are not read (no links)."""
        stack = [root]
        while stack:
            cid = stack.pop()
            key = self._block_path(cid).name
            if key in live:
                continue
            live.add(key)
            if cid.codec != RAW and self._block_path(cid).exists():
                stack.extend(link.cid for link in reader.child_links(cid, self.get_block(cid)))
