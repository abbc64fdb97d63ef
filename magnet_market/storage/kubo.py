"""KuboStore: content on an IPFS node through its HTTP RPC API (Kubo, or js-ipfs in tests).

The node is not trusted: every add is compared with the CID computed locally from the same
bytes, and every read is verified (``cat`` by re-importing the streamed bytes, blocks by
hashing each one). Calls are always POST (the RPC API refuses GET since Kubo 0.5 and js-ipfs
never took it) and have timeouts: js-ipfs never answers a request for a block it lacks, so
single-block calls also pass the node a ``timeout`` shorter than ours and get a clear error
back. Connection failures are retried a bounded number of times; timeouts are not (a node that
is slow now is slow on the next attempt too). CIDv1 answers are requested in base32
(``cid-base=base32``); js-ipfs would send base58btc.

API reference: https://docs.ipfs.tech/reference/kubo/rpc/.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from magnet_market.storage import car, dag, reader
from magnet_market.storage._node_reads import NodeReads
from magnet_market.storage.cid import CID
from magnet_market.storage.errors import (
    CIDMismatchError,
    ContentNotFoundError,
    NodeError,
)

DEFAULT_API = "http://127.0.0.1:5001"
# Messages with which Kubo and js-ipfs say "I do not have that": mapped to ContentNotFoundError.
_NOT_FOUND_HINTS = ("not found", "timed out", "not pinned", "no link named")

_TOP = "content"  # the name of an unwrapped upload's top entry

Files = Callable[[contextlib.ExitStack], list[tuple[str, tuple[str, Any, str]]]]
"""Builds a multipart body afresh for each attempt, opening files on the given stack."""


class _StreamReader:
    """A minimal ``read(n)`` file over an iterator of byte chunks (for parsing CAR streams)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        out, self._buf = (self._buf, b"") if n < 0 else (self._buf[:n], self._buf[n:])
        return out


class KuboStore(NodeReads):
    """A :class:`~magnet_market.storage.store.ContentStore` backed by an IPFS node.

    Args:
        api_url: the node's RPC address, e.g. ``http://127.0.0.1:5001``.
        timeout: seconds a call may wait for the node between two bytes.
        retries: extra attempts after a connection error (refused, reset, protocol error).
        client: an ``httpx.Client`` to reuse; one is created (and closed by :meth:`close`).
    """

    def __init__(
        self,
        api_url: str = DEFAULT_API,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        client: httpx.Client | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._own_client = client is None
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        self._client = client or httpx.Client(timeout=self._timeout)

    def __repr__(self) -> str:
        return f"KuboStore({self.api_url!r})"

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> KuboStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def _send(
        self,
        command: str,
        params: dict[str, Any] | None = None,
        files: Files | None = None,
        node_timeout: float | None = None,
    ) -> httpx.Response:
        """POST ``/api/v0/<command>``; return the open (streaming) response of a 2xx answer.

        ``node_timeout`` also asks the node to give up after that many seconds (for the whole
        command, so only for calls that are quick when the content is there); our own timeout
        is then a little longer, so that the node's "timed out" answer arrives first.
        """
        url = f"{self.api_url}/api/v0/{command}"
        params = dict(params or {})
        timeout: httpx.Timeout | None = None
        if node_timeout is not None:
            params["timeout"] = f"{int(node_timeout * 1000)}ms"
            timeout = httpx.Timeout(node_timeout + 5.0, connect=5.0)
        for attempt in range(self.retries + 1):
            try:
                with contextlib.ExitStack() as stack:
                    body = files(stack) if files else None
                    request = self._client.build_request(
                        "POST", url, params=params, files=body, timeout=timeout or self._timeout
                    )
                    response = self._client.send(request, stream=True)
            except httpx.TimeoutException as e:
                raise NodeError(f"IPFS node at {self.api_url}: {command} timed out: {e!r}") from e
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise NodeError(f"IPFS node at {self.api_url}: {command} failed: {e!r}") from e
                time.sleep(0.2 * 2**attempt)
                continue
            if response.is_success:
                return response
            raise self._error(command, response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _error(self, command: str, response: httpx.Response) -> Exception:
        try:
            message = json.loads(response.read()).get("Message", "")
        except (ValueError, AttributeError, httpx.HTTPError):
            message = ""
        finally:
            response.close()
        message = message or f"HTTP {response.status_code}"
        text = f"IPFS node: {command}: {message}"
        if any(hint in message.lower() for hint in _NOT_FOUND_HINTS):
            return ContentNotFoundError(text)
        return NodeError(text, response.status_code)

    def _call(self, command: str, **params: Any) -> Any:
        response = self._send(command, params)
        try:
            return response.json() if response.read() else None
        finally:
            response.close()

    def _lines(self, command: str, params: dict[str, Any], files: Files) -> list[dict[str, Any]]:
        response = self._send(command, params, files)
        try:
            return [json.loads(line) for line in response.iter_lines() if line.strip()]
        finally:
            response.close()

    # --- node info ---------------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        """The node's ``version`` answer (``{"Version": "0.18.1", ...}``)."""
        return self._call("version")

    def id(self) -> dict[str, Any]:
        """The node's ``id`` answer (peer ID, agent version, addresses)."""
        return self._call("id")

    # --- add ---------------------------------------------------------------------------------

    def _add(self, files: Files, cid_version: int, wrap: bool, pin: bool, name: str) -> CID:
        params = {
            "cid-version": cid_version,
            "raw-leaves": "true" if cid_version == 1 else "false",
            "chunker": f"size-{dag.CHUNK_SIZE}",
            "hash": "sha2-256",
            "wrap-with-directory": str(wrap).lower(),
            "pin": str(pin).lower(),
            "progress": "false",
        }
        if cid_version == 1:  # js-ipfs rejects cid-base=base32 for CIDv0 answers
            params["cid-base"] = "base32"
        entries = self._lines("add", params, files)
        roots = [e for e in entries if e.get("Name") == ("" if wrap else name)] or entries[-1:]
        if not roots:
            raise NodeError(f"IPFS node at {self.api_url}: add returned nothing")
        return CID.parse(roots[-1]["Hash"])

    def _check(self, expected: CID, node_cid: CID) -> CID:
        if node_cid != expected:
            raise CIDMismatchError(expected, node_cid, f"{self.api_url} computed a different CID")
        return expected

    def add_bytes(self, data: bytes, *, cid_version: int = 1, pin: bool = True) -> CID:
        expected = dag.import_bytes(data, cid_version).cid

        def files(_: contextlib.ExitStack) -> list[tuple[str, tuple[str, Any, str]]]:
            return [("file", (_TOP, data, "application/octet-stream"))]

        return self._check(expected, self._add(files, cid_version, False, pin, _TOP))

    def add_path(
        self,
        path: str | os.PathLike[str],
        *,
        cid_version: int = 1,
        wrap: bool = False,
        pin: bool = True,
    ) -> CID:
        """Upload a file or directory tree and check the node's CID.

        Files are read twice (hashed locally, then streamed to the node), never held whole.
        """
        path = Path(path)
        expected = dag.import_path(path, cid_version, wrap=wrap).cid
        # Unwrapped, the top name is not part of the DAG: a fixed one dodges a js-ipfs parser
        # bug that drops one-character names (its filename regex needs two characters).
        top = path.name if wrap else _TOP

        def files(stack: contextlib.ExitStack) -> list[tuple[str, tuple[str, Any, str]]]:
            return _multipart(path, top, stack)

        return self._check(expected, self._add(files, cid_version, wrap, pin, top))

    # --- read --------------------------------------------------------------------------------

    def _fetch(self, cid: CID) -> bytes:
        response = self._send("block/get", {"arg": str(cid)}, node_timeout=self.timeout)
        try:
            return response.read()
        finally:
            response.close()

    def get_block(self, cid: CID | str) -> bytes:
        """One raw block, verified against its CID."""
        return reader.get_block(self._fetch, CID.parse(cid))

    def open(self, cid: CID | str) -> Iterator[bytes]:
        """Stream a file with ``cat``, re-importing it on the fly to recompute the CID.

        The root block is fetched (and verified) first for the declared size, so a short
        stream is reported as truncated. Only content added with this package's (the node's
        default) layout can be verified this way.
        """
        cid = CID.parse(cid)
        size = reader.file_size(self._fetch, cid)
        return reader.recomputed(self._cat(cid), cid, size)

    def _cat(self, cid: CID) -> Iterator[bytes]:
        response = self._send("cat", {"arg": str(cid)})
        try:
            yield from response.iter_bytes(dag.CHUNK_SIZE)
        except httpx.TransportError as e:
            raise NodeError(f"IPFS node at {self.api_url}: cat {cid} broke off: {e!r}") from e
        finally:
            response.close()

    def has(self, cid: CID | str) -> bool:
        """Whether the node holds the root block locally (it is told not to search the network)."""
        params = {"arg": str(CID.parse(cid)), "offline": "true"}
        try:
            self._send("block/stat", params, node_timeout=min(self.timeout, 1.0)).close()
        except ContentNotFoundError:
            return False
        return True

    # --- pins --------------------------------------------------------------------------------

    def pin(self, cid: CID | str) -> None:
        cid = CID.parse(cid)
        response = self._send("pin/add", {"arg": str(cid)}, node_timeout=self.timeout)
        response.close()

    def unpin(self, cid: CID | str) -> None:
        self._call("pin/rm", arg=str(CID.parse(cid)), recursive="true")

    def pins(self) -> list[CID]:
        # No cid-base here: js-ipfs fails on CIDv0 keys with it; CID.parse reads either base.
        answer = self._call("pin/ls", type="recursive") or {}
        return sorted((CID.parse(key) for key in answer.get("Keys", {})), key=str)

    # --- CAR ---------------------------------------------------------------------------------

    def export_car(self, cid: CID | str, out: IO[bytes]) -> None:
        """Stream ``dag/export`` into ``out``, verifying the root and every block on the way."""
        cid = CID.parse(cid)
        if not self.has(cid):  # js-ipfs would wait forever for a root it lacks
            raise ContentNotFoundError(f"IPFS node at {self.api_url} does not hold {cid}")
        response = self._send("dag/export", {"arg": str(cid)})
        try:
            stream = _StreamReader(response.iter_bytes())
            roots = car.read_header(stream)
            if roots != [cid]:
                raise CIDMismatchError(cid, roots[0] if roots else None, "CAR root from the node")
            car.write_car(roots, car.iter_blocks(stream), out)
        finally:
            response.close()

    def import_car(self, inp: IO[bytes], *, pin: bool = True) -> list[CID]:
        def files(_: contextlib.ExitStack) -> list[tuple[str, tuple[str, Any, str]]]:
            inp.seek(0)  # replayable: a retry re-sends from the start
            return [("file", ("import.car", inp, "application/vnd.ipld.car"))]

        roots = []
        for entry in self._lines("dag/import", {"pin-roots": str(pin).lower()}, files):
            if "Root" not in entry:
                continue
            if entry["Root"].get("PinErrorMsg"):
                raise NodeError(f"IPFS node: dag/import: {entry['Root']['PinErrorMsg']}")
            roots.append(CID.parse(entry["Root"]["Cid"]["/"]))
        return roots


def _multipart(
    path: Path, name: str, stack: contextlib.ExitStack
) -> list[tuple[str, tuple[str, Any, str]]]:
    """The multipart parts ``add`` expects: directories as ``application/x-directory`` parts
    preceding their entries, names as URL-escaped relative paths (Kubo unescapes them)."""
    escaped = urllib.parse.quote(name, safe="")
    if not path.is_dir():
        handle = stack.enter_context(path.open("rb"))
        return [("file", (escaped, handle, "application/octet-stream"))]
    parts = [("file", (escaped, b"", "application/x-directory"))]
    for child in sorted(path.iterdir()):
        parts += _multipart(child, f"{name}/{child.name}", stack)
    return parts
