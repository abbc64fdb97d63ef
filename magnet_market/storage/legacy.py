"""A ContentStore over an existing ``ipfshttpclient.Client`` (0.7, unmaintained since 2021).

For code that already holds a configured legacy client. Build it with
``ipfshttpclient.Client(addr)``: ``ipfshttpclient.connect()`` refuses every daemon >= 0.8.
The node is checked exactly as in :class:`~magnet_market.storage.kubo.KuboStore` (local CID on
add, re-import on ``cat``, per-block hashes); ``KuboStore`` stays the default because its httpx
transport streams uploads from disk and has per-call timeouts and bounded retries, while this
client needs ``timeout=`` passed on every call and buffers multipart bodies in its own way.

``ipfshttpclient`` is imported lazily and only typed here, so it stays a dev dependency.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from magnet_market.storage import car, dag, reader
from magnet_market.storage._node_reads import NodeReads
from magnet_market.storage.cid import CID
from magnet_market.storage.errors import (
    CIDMismatchError,
    ContentNotFoundError,
    NodeError,
)

_NOT_FOUND_HINTS = ("not found", "timed out", "not pinned")


class IpfsHttpClientStore(NodeReads):
    """A :class:`~magnet_market.storage.store.ContentStore` using a legacy ``ipfshttpclient``.

    Args:
        client: an ``ipfshttpclient.Client``.
        timeout: seconds given to the node (and to the client) for single-block calls.
    """

    def __init__(self, client: Any, *, timeout: float = 30.0) -> None:
        self.client = client
        self.timeout = timeout

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import ipfshttpclient.exceptions as legacy

        try:
            yield
        except legacy.Error as e:
            text = f"IPFS node (ipfshttpclient): {what}: {e}"
            if any(hint in str(e).lower() for hint in _NOT_FOUND_HINTS):
                raise ContentNotFoundError(text) from e
            raise NodeError(text) from e

    def _opts(self, cid_version: int) -> dict[str, Any]:
        opts = {
            "cid-version": cid_version,
            "raw-leaves": "true" if cid_version == 1 else "false",
            "chunker": f"size-{dag.CHUNK_SIZE}",
        }
        if cid_version == 1:
            opts["cid-base"] = "base32"
        return opts

    def _checked(self, expected: CID, answer: Any) -> CID:
        """``answer``: the add result, one entry or a list whose last entry is the root."""
        entries = answer if isinstance(answer, list) else [answer]
        node_cid = CID.parse(entries[-1]["Hash"])
        if node_cid != expected:
            raise CIDMismatchError(expected, node_cid, "ipfshttpclient node computed another")
        return expected

    def _fetch(self, cid: CID) -> bytes:
        with self._errors(f"block/get {cid}"):
            return self.client.block.get(
                str(cid),
                opts={"timeout": f"{int(self.timeout * 1000)}ms"},
                timeout=self.timeout + 5,
            )

    # --- ContentStore ------------------------------------------------------------------------

    def add_bytes(self, data: bytes, *, cid_version: int = 1, pin: bool = True) -> CID:
        expected = dag.import_bytes(data, cid_version).cid
        opts = {**self._opts(cid_version), "pin": str(pin).lower()}
        with self._errors("add"):
            node_cid = self.client.add_bytes(data, opts=opts)
        return self._checked(expected, {"Hash": node_cid})

    def add_path(
        self,
        path: str | os.PathLike[str],
        *,
        cid_version: int = 1,
        wrap: bool = False,
        pin: bool = True,
    ) -> CID:
        """Files stream through ``add``; folders and ``wrap`` go as a locally built CAR.

        The legacy client uploads folders as nested multipart bodies, from which js-ipfs
        builds a different DAG (dag-pb leaves, file modes); a CAR keeps the CIDs ours.
        """
        path = Path(path)
        if path.is_dir() or wrap:
            return self._add_as_car(path, cid_version, wrap, pin)
        expected = dag.cid_of_path(path, cid_version)
        opts = {**self._opts(cid_version), "pin": str(pin).lower()}
        with path.open("rb") as f, self._errors("add"):
            chunks = iter(lambda: f.read(dag.CHUNK_SIZE), b"")
            node_cid = self.client.add_bytes(chunks, opts=opts)
        return self._checked(expected, {"Hash": node_cid})

    def _add_as_car(self, path: Path, cid_version: int, wrap: bool, pin: bool) -> CID:
        # Named: the legacy client reads `.name` of what it uploads (an int for TemporaryFile).
        with tempfile.TemporaryFile() as blocks, tempfile.NamedTemporaryFile() as car_file:
            root = dag.import_path(
                path, cid_version, lambda cid, data: car.write_section(blocks, cid, data), wrap
            ).cid
            car.write_car([root], [], car_file)
            blocks.seek(0)
            shutil.copyfileobj(blocks, car_file)
            car_file.seek(0)
            roots = self.import_car(car_file, pin=pin)
        if roots != [root]:
            raise CIDMismatchError(root, roots[0] if roots else None, "dag/import root")
        return root

    def open(self, cid: CID | str) -> Iterator[bytes]:
        cid = CID.parse(cid)
        size = reader.file_size(self._fetch, cid)
        return reader.recomputed(self._cat(cid), cid, size)

    def _cat(self, cid: CID) -> Iterator[bytes]:
        with self._errors(f"cat {cid}"):
            yield from self.client.cat(str(cid), stream=True, timeout=self.timeout)

    def has(self, cid: CID | str) -> bool:
        try:
            with self._errors("block/stat"):
                self.client.block.stat(
                    str(CID.parse(cid)), opts={"offline": "true", "timeout": "1000ms"}, timeout=6
                )
        except ContentNotFoundError:
            return False
        return True

    def pin(self, cid: CID | str) -> None:
        with self._errors("pin/add"):
            self.client.pin.add(str(CID.parse(cid)), timeout=self.timeout)

    def unpin(self, cid: CID | str) -> None:
        with self._errors("pin/rm"):
            self.client.pin.rm(str(CID.parse(cid)))

    def pins(self) -> list[CID]:
        with self._errors("pin/ls"):
            keys = self.client.pin.ls(type="recursive")["Keys"]
        return sorted((CID.parse(key) for key in keys), key=str)

    def export_car(self, cid: CID | str, out: IO[bytes]) -> None:
        cid = CID.parse(cid)
        if not self.has(cid):  # js-ipfs would wait forever for a root it lacks
            raise ContentNotFoundError(f"the node does not hold {cid}")
        with self._errors(f"dag/export {cid}"):
            stream = io.BytesIO(self.client.dag.export(str(cid), timeout=self.timeout))
        roots = car.read_header(stream)
        if roots != [cid]:
            raise CIDMismatchError(cid, roots[0] if roots else None, "CAR root from the node")
        car.write_car(roots, car.iter_blocks(stream), out)

    def import_car(self, inp: IO[bytes], *, pin: bool = True) -> list[CID]:
        with self._errors("dag/import"):
            answer = self.client.dag.imprt(inp, opts={"pin-roots": str(pin).lower()})
        entries = answer if isinstance(answer, list) else [answer]
        return [CID.parse(e["Root"]["Cid"]["/"]) for e in entries if "Root" in e]
