"""A local anvil node on loopback: the embedded default chain, and the chain of every test.

anvil comes from npm (``@foundry-rs/anvil-linux-amd64``, a native binary inside the package), so
nothing downloads at run time. With ``state_path`` the chain is dumped on stop and loaded on
start, so a devnet survives restarts.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from magnet_market.chain.accounts import DEVNET_MNEMONIC
from magnet_market.chain.errors import DevnetError
from magnet_market.config import DEVNET_CHAIN_ID
from magnet_market.processes import spawn, stop_child

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Block states the devnet keeps (reads at older blocks fail; nothing here makes them).
DEVNET_STATES_KEPT = 256


def anvil_binary() -> str:
    """Path of anvil: ``MAGNET_ANVIL``, the project's ``node_modules``, or ``PATH``."""
    candidates = [os.environ.get("MAGNET_ANVIL"), str(PROJECT_ROOT / "node_modules/.bin/anvil")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("anvil")
    if found is None:
        raise DevnetError("anvil not found: run `make install` (npm ci) or set MAGNET_ANVIL")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Devnet:
    """An anvil process bound to 127.0.0.1 that stops with this one, however it stops.

    Args:
        port: TCP port; a free one when ``None``.
        chain_id: the devnet's chain id (31337 by default; tests use others for mismatch checks).
        state_path: JSON state file loaded on start and written on stop.
        accounts: number of funded dev accounts (from the well-known devnet mnemonic).
        startup_timeout: seconds to wait for the RPC to answer.
        block_time: mine a block every this many seconds (clocks advance like a real chain's)
            instead of one block per transaction.
    """

    def __init__(
        self,
        port: int | None = None,
        chain_id: int = DEVNET_CHAIN_ID,
        state_path: Path | None = None,
        accounts: int = 10,
        startup_timeout: float = 15.0,
        block_time: float | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.chain_id = chain_id
        self.state_path = state_path
        self.accounts = accounts
        self.startup_timeout = startup_timeout
        self.block_time = block_time
        self._process: subprocess.Popen[bytes] | None = None
        fd, log = tempfile.mkstemp(prefix="anvil-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log)

    @property
    def url(self) -> str:
        """The JSON-RPC URL."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The anvil command line."""
        cmd = [
            anvil_binary(),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--mnemonic", DEVNET_MNEMONIC,
            # the last 256 blocks' states in memory and none on disk: anvil otherwise writes
            # about 0.2 MB per block under ~/.foundry and leaves it there when it stops
            "--prune-history", str(DEVNET_STATES_KEPT),
        ]  # fmt: skip
        if self.state_path is not None:
            cmd += ["--state", str(self.state_path)]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        return cmd

    def popen_options(self) -> dict[str, Any]:
        """Extra ``Popen`` arguments of the node's process (none for anvil)."""
        return {}

    def start(self) -> Devnet:
        """Start anvil and wait until it answers ``eth_chainId``."""
        if self._process is not None:
            raise DevnetError("devnet already started")
        with self.log_path.open("ab") as log:
            self._process = spawn(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                **self.popen_options(),
            )
        try:
            self._wait_ready(self._process)
        except BaseException:  # a timeout, or a signal while starting: no half-started anvil
            self.stop()
            raise
        return self

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DevnetError(f"the devnet exited with {process.returncode}: {self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.05)
        raise DevnetError(f"the devnet did not answer on {self.url} within {self.startup_timeout}s")

    def stop(self) -> None:
        """Stop anvil gracefully (SIGINT lets it dump ``state_path``), killing it if it hangs.

        The log goes with a clean stop; a devnet that died on its own keeps it for inspection.
        """
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        stop_child(process, signal.SIGINT)
        self.log_path.unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        """Whether the anvil process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines anvil printed, for error messages."""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _answers(self) -> bool:
        payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        try:
            return httpx.post(self.url, json=payload, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def __enter__(self) -> Devnet:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
