"""A JSON-RPC relay on loopback that behaves like a public provider, for rehearsals on a devnet.

It forwards every request to a node and counts them by method; given ``max_log_blocks`` it
refuses an ``eth_getLogs`` spanning more blocks, with the error a provider sends, and given a
``latency`` it answers that much later, like a provider across the internet. The event
tests and ``benchmarks/events.py`` read a market through it, so what they measure is what a
reader meets on a capped public RPC.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: The refusal's code and words (those of a common provider; -32005: limit exceeded).
REFUSAL_CODE = -32005


class RpcRelay:
    """Relays ``127.0.0.1:<port>`` to ``upstream``.

    Args:
        upstream: the node's JSON-RPC URL.
        max_log_blocks: the most blocks one ``eth_getLogs`` may span (``None``: no cap; 0:
            refuse every log query).
        latency: seconds added to every answer (a provider's round trip over the internet).

    Use as a context manager; :attr:`url` is where to point a client.
    """

    def __init__(
        self, upstream: str, max_log_blocks: int | None = None, latency: float = 0.0
    ) -> None:
        self.upstream = upstream
        self.max_log_blocks = max_log_blocks
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self.log_ranges: list[tuple[int, int]] = []  # the eth_getLogs spans answered
        self.refused = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The relay's URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset_counts(self) -> None:
        """Forget the calls counted so far."""
        with self._lock:
            self.calls.clear()
            self.log_ranges.clear()
            self.refused = 0

    def __enter__(self) -> RpcRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to one JSON-RPC request: refused here, or the node's."""
        method = str(request.get("method"))
        time.sleep(self.latency)
        with self._lock:
            self.calls[method] += 1
        span = _log_span(request) if method == "eth_getLogs" else None
        cap = self.max_log_blocks
        if span is not None and cap is not None and span[1] - span[0] + 1 > cap:
            with self._lock:
                self.refused += 1
            message = f"query exceeds max block range {self.max_log_blocks}"
            error = {"code": REFUSAL_CODE, "message": message}
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
        try:  # a connection per request: the handler threads share nothing
            reply = httpx.post(self.upstream, json=request, timeout=30.0).json()
        except (httpx.HTTPError, ValueError) as e:
            error = {"code": -32603, "message": f"relay: the node did not answer ({e})"}
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
        if span is not None and "result" in reply:
            with self._lock:
                self.log_ranges.append(span)
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if isinstance(body, list):
                    reply: Any = [relay.answer(r) for r in body]
                else:
                    reply = relay.answer(body)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: a test's output is not the place for every request."""

        return Handler


def _log_span(request: dict[str, Any]) -> tuple[int, int] | None:
    """The block span of an ``eth_getLogs`` request with numeric bounds."""
    params = request.get("params") or [{}]
    query = params[0] if isinstance(params[0], dict) else {}
    try:
        return int(query["fromBlock"], 16), int(query["toBlock"], 16)
    except (KeyError, TypeError, ValueError):
        return None
