"""The README's by-hand steps run as written, as separate `magnet` processes, like a user's shell.

The commands are read from the README itself, so the README cannot drift from what works. Two
changes only: the devnet gets a free port (``MAGNET_DEVNET_URL`` tells the other commands), and
``source .venv/bin/activate`` becomes the test's PATH. Background commands (``&``) run beside the
others and are stopped at the end, as a user would with Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from magnet_market.chain.devnet import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def readme_steps() -> list[str]:
    """The commands of the README's "same steps by hand" block, without their comments."""
    text = (ROOT / "README.md").read_text()
    block = text.split("The same steps by hand:", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split(" #", 1)[0].strip() for line in block.strip().splitlines()]


def wait_for_rpc(url: str, devnet: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert devnet.poll() is None, "magnet devnet exited"
        try:
            httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"no devnet answered on {url} within {timeout} s")


class UserShell:
    """Runs commands like a user's shell: in the foreground, or in the background with ``&``
    (each with its own log); the devnet on a free port."""

    def __init__(self, logs: Path, files: contextlib.ExitStack) -> None:
        self.logs, self.files = logs, files
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "MAGNET_HOME": str(logs.parent / "home"),
            "MAGNET_DEVNET_URL": self.url,
        }
        self.background: list[subprocess.Popen] = []
        self.count = 0

    def run(self, step: str) -> str:
        """Run ``step``; returns its output (empty for a background command)."""
        args = shlex.split(step.rstrip("&"))
        devnet = args[:2] == ["magnet", "devnet"]
        if devnet:
            args += ["--port", str(self.port)]
        path = self.logs / f"{self.count}.log"
        self.count += 1
        log = self.files.enter_context(path.open("w"))
        options = {"cwd": ROOT, "env": self.env, "stdout": log, "stderr": subprocess.STDOUT}
        if step.endswith("&"):
            self.background.append(subprocess.Popen(args, **options))
            if devnet:
                wait_for_rpc(self.url, self.background[-1])
            return ""
        done = subprocess.run(args, timeout=900, **options)
        assert done.returncode == 0, f"{step!r} failed:\n{path.read_text()}"
        return path.read_text()

    def stop(self) -> None:
        """Ctrl-C for whatever still runs in the background."""
        for proc in self.background:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)


@pytest.mark.timeout(900)
def test_the_readme_steps_run_as_written(tmp_path):
    steps = readme_steps()
    assert steps[0] == "source .venv/bin/activate" and steps[1].startswith("magnet devnet")
    (tmp_path / "logs").mkdir()
    with contextlib.ExitStack() as files:
        shell = UserShell(tmp_path / "logs", files)
        try:
            outputs = [shell.run(step) for step in steps[1:]]
            assert "payouts verified" in outputs[-1]  # the last step's own verdict
            for proc in shell.background[1:]:  # the contributor and the validator finish
                assert proc.wait(timeout=300) == 0, proc.args
        finally:
            shell.stop()
