"""A throwaway, offline IPFS node on loopback ports, for tests and benchmarks (like ``devnet``).

It runs the js-ipfs daemon from the project's npm dev dependencies (``ipfs@0.66.1``, which
speaks the same HTTP RPC as Kubo; Kubo's npm packages download their binary at install time
and fail offline). Three workarounds make it start on Node 20 with no network:

- ``Promise.withResolvers`` is missing before Node 22: ``devnode_polyfill.cjs`` is preloaded
  through ``NODE_OPTIONS=--require``;
- two multiaddr versions in its dependency tree break the swarm: ``Addresses.Swarm = []``;
- no bootstrap peers, no preload, no delegated routing, no MDNS; API and gateway on 127.0.0.1.

Each node owns a fresh repository (``IPFS_PATH``) in the folder it is given.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

from magnet_market.processes import spawn, stop_child
from magnet_market.storage.errors import StorageError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "node_modules" / ".bin" / "jsipfs"
POLYFILL = Path(__file__).with_name("devnode_polyfill.cjs")


class DevNodeError(StorageError, RuntimeError):
    """The development node is missing, failed to start, or did not become ready in time."""


def _free_port() -> int:
    # The port is released before the daemon binds it; on a loopback-only test box the race
    # with another process picking the same port is negligible.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevNode:
    """Start with ``with DevNode(tmp_dir) as node: KuboStore(node.api_url)``; the daemon stops
    with this process, however it stops.

    Args:
        workdir: an empty folder for the repository and the daemon log.
        binary: the ``jsipfs`` executable; ``MAGNET_JSIPFS`` or ``node_modules/.bin/jsipfs``.
        startup_timeout: seconds to wait for the API to answer before giving up.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.binary = Path(binary or os.environ.get("MAGNET_JSIPFS") or DEFAULT_BINARY)
        self.startup_timeout = startup_timeout
        self.api_port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.log_path = self.workdir / "daemon.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["IPFS_PATH"] = str(self.workdir / "repo")
        env["NODE_OPTIONS"] = f'{env.get("NODE_OPTIONS", "")} --require "{POLYFILL}"'.strip()
        return env

    def _config(self) -> dict[str, object]:
        loopback = "/ip4/127.0.0.1/tcp/{}"
        return {
            "Addresses": {
                "Swarm": [],
                "API": loopback.format(self.api_port),
                "Gateway": loopback.format(_free_port()),
                "RPC": loopback.format(_free_port()),
                "Delegates": [],
            },
            "Bootstrap": [],
            "Discovery": {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}},
            "Routing": {"Type": "none"},
        }

    def start(self) -> None:
        """Initialise the repository and start the daemon; return once its API answers."""
        if not self.binary.exists():
            raise DevNodeError(
                f"IPFS daemon binary not found at {self.binary}; run `make install` "
                "(npm dev dependency ipfs@0.66.1) or set MAGNET_JSIPFS"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.json"
        config.write_text(json.dumps(self._config()))
        init = spawn(
            [str(self.binary), "init", "--emptyRepo", "--defaultConfig", str(config)],
            env=self._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _, init_errors = init.communicate(timeout=self.startup_timeout)
        finally:
            stop_child(init)
        if init.returncode != 0:
            raise DevNodeError(f"jsipfs init failed: {init_errors.decode(errors='replace')}")
        with self.log_path.open("wb") as log:
            self._proc = spawn(
                [str(self.binary), "daemon", "--offline", "--enable-preload=false"],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:  # never leave a half-started daemon behind
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise DevNodeError(f"IPFS daemon exited at startup:\n{self._log_tail()}")
            try:
                httpx.post(f"{self.api_url}/api/v0/version", timeout=2.0).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise DevNodeError(
            f"IPFS daemon not ready after {self.startup_timeout}s:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the daemon's process group, then SIGKILL it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_child(proc, timeout=timeout)

    def __enter__(self) -> DevNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
