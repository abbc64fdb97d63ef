"""KuboStore against faults a real daemon cannot be made to commit: a node that lies,
truncates, or drops connections. A tiny loopback HTTP server plays that node."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from magnet_market.storage import (
    CIDMismatchError,
    KuboStore,
    NodeError,
    TruncatedContentError,
    cid_of_bytes,
)
from magnet_market.storage.dag import import_bytes

CONTENT = b"the real checkpoint bytes"
CID = cid_of_bytes(CONTENT)

Behaviour = Callable[[BaseHTTPRequestHandler, str, dict[str, list[str]]], None]


def _reply(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def fake_node() -> Iterator[Callable[[Behaviour], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(behaviour: Behaviour) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                behaviour(self, url.path.removeprefix("/api/v0/"), parse_qs(url.query))

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_node_announcing_another_cid_on_add(fake_node: Callable[[Behaviour], str]) -> None:
    def lie(handler: BaseHTTPRequestHandler, command: str, query: dict[str, list[str]]) -> None:
        answer = {"Name": "content", "Hash": str(cid_of_bytes(b"something else"))}
        _reply(handler, json.dumps(answer).encode())

    with KuboStore(fake_node(lie)) as store, pytest.raises(CIDMismatchError) as info:
        store.add_bytes(CONTENT)
    assert info.value.expected == CID


def test_node_serving_other_bytes(fake_node: Callable[[Behaviour], str]) -> None:
    """Right root block, wrong file bytes of the same length from `cat`: caught by re-import."""

    def swap(handler: BaseHTTPRequestHandler, command: str, query: dict[str, list[str]]) -> None:
        _reply(handler, CONTENT if command == "block/get" else b"the real checkpoint bytez")

    with KuboStore(fake_node(swap)) as store, pytest.raises(CIDMismatchError):
        store.get(CID)


def test_node_serving_a_tampered_block(fake_node: Callable[[Behaviour], str]) -> None:
    def tamper(handler: BaseHTTPRequestHandler, command: str, query: dict[str, list[str]]) -> None:
        _reply(handler, b"the real checkpoint bytez")

    with KuboStore(fake_node(tamper)) as store:
        with pytest.raises(CIDMismatchError):
            store.get_block(CID)
        with pytest.raises(CIDMismatchError):
            store.get(CID)


def test_node_serving_the_root_but_a_short_stream(fake_node: Callable[[Behaviour], str]) -> None:
    data = bytes(300_000)  # two chunks: the root is a dag-pb node declaring 300000 bytes
    blocks: dict[str, bytes] = {}
    root = import_bytes(data, sink=lambda cid, block: blocks.__setitem__(str(cid), block)).cid

    def short(handler: BaseHTTPRequestHandler, command: str, query: dict[str, list[str]]) -> None:
        if command == "block/get":
            _reply(handler, blocks[query["arg"][0]])
        else:
            _reply(handler, data[:-1])

    with KuboStore(fake_node(short)) as store, pytest.raises(TruncatedContentError):
        store.get(root)


def test_connection_drops_are_retried_a_bounded_number_of_times(
    fake_node: Callable[[Behaviour], str],
) -> None:
    calls = []

    def flaky(handler: BaseHTTPRequestHandler, command: str, query: dict[str, list[str]]) -> None:
        calls.append(command)
        if len(calls) <= 2:
            handler.close_connection = True  # hang up without an answer
            return
        _reply(handler, b'{"Version": "fake"}')

    url = fake_node(flaky)
    with KuboStore(url, retries=1) as store, pytest.raises(NodeError):
        store.version()
    assert len(calls) == 2
    with KuboStore(url, retries=2) as store:
        assert store.version() == {"Version": "fake"}
    assert len(calls) == 3


def test_error_answers_keep_the_node_message(fake_node: Callable[[Behaviour], str]) -> None:
    def refuse(handler: BaseHTTPRequestHandler, command: str, query: dict[str, list[str]]) -> None:
        _reply(handler, b'{"Message": "disk full", "Code": 0, "Type": "error"}', status=500)

    with KuboStore(fake_node(refuse)) as store, pytest.raises(NodeError, match="disk full") as e:
        store.add_bytes(b"x")
    assert e.value.status == 500


def test_no_node_listening() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    start = time.monotonic()
    with KuboStore(f"http://127.0.0.1:{port}", retries=2) as store, pytest.raises(NodeError):
        store.version()
    assert time.monotonic() - start < 5  # 3 attempts with 0.2 s and 0.4 s back-off
