"""`magnet demo` stopped by a signal takes its anvil devnet with it (issue 19, item 7).

The demo runs as its own process group, the way a shell or a service manager starts it; its
anvil is found among its children in /proc and must be gone soon after the demo is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from magnet_market.chain.devnet import free_port
from tests.test_processes import wait_until_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

T = TypeVar("T")

#: One short round of the digits task, no search: the demo reaches its dashboard quickly.
SPEC_TOML = """
name = "digits-signals"
kind = "digits"
rounds = 1
inner_steps = 10
batch_size = 32

[model]
hidden = 16
n_layers = 1

[search]
trials = 0

[market]
bounty = "1ether"
claim_bond = "0.01ether"
max_contributors = 3

[market.timing]
challenge = 0
"""


def children(pid: int) -> dict[int, list[str]]:
    """The processes whose parent is ``pid``, with their command lines."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # exited while we looked
        args = [arg.decode() for arg in cmdline if arg]
        if parent == pid and args:  # no arguments yet: forked, not yet exec'd
            found[int(entry.name)] = args
    return found


def wait_for(what: str, probe: Callable[[], T], demo: subprocess.Popen, timeout: float) -> T:
    """Poll ``probe`` until it returns something true, and return that; fail if the demo exits."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert demo.poll() is None, f"the demo exited with {demo.returncode} before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        time.sleep(0.1)
    return found


def answers(url: str, path: str = "/") -> bool:
    try:
        httpx.get(url + path, timeout=2.0)
    except httpx.TransportError:
        return False
    return True


def anvil_of(demo: subprocess.Popen) -> int | None:
    """The pid of the demo's anvil, once its RPC answers."""
    for pid, cmdline in children(demo.pid).items():
        if Path(cmdline[0]).name == "anvil":
            port = cmdline[cmdline.index("--port") + 1]
            return pid if answers(f"http://127.0.0.1:{port}") else None
    return None


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts ``magnet demo`` in its own process group; whatever it left is killed and reaped
    at the end of the test, however the test ended."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        spec = tmp_path / "task.toml"
        spec.write_text(SPEC_TOML)
        with (tmp_path / "demo.log").open("w") as log:
            demo = subprocess.Popen(
                [sys.executable, "-m", "magnet_market.cli", "demo", "--task", str(spec), *args],
                env={**os.environ, "MAGNET_HOME": str(tmp_path / "home")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(demo)
        return demo

    yield start
    for demo in started:
        with suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(timeout=30)


def stop_and_check(demo: subprocess.Popen, signum: int, anvil: int, log: Path) -> None:
    """Send ``signum`` to the demo; it must exit with the signal's status and take anvil along."""
    expected = -signal.SIGKILL if signum == signal.SIGKILL else 128 + signum
    demo.send_signal(signum)
    assert demo.wait(timeout=30) == expected, log.read_text()[-3000:]
    assert wait_until_gone(anvil), f"anvil {anvil} outlived the demo"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_demo_stopped_while_it_starts_stops_its_devnet(tmp_path, start_demo, signum):
    demo = start_demo()
    anvil = wait_for("anvil answering", lambda: anvil_of(demo), demo, 60)
    stop_and_check(demo, signum, anvil, tmp_path / "demo.log")


@pytest.mark.slow
def test_a_serving_demo_stopped_by_sigterm_stops_its_devnet(tmp_path, start_demo):
    """The issue as reported: `magnet demo --serve`, then `kill` (SIGTERM) once it serves."""
    port = free_port()
    demo = start_demo("--serve", "--port", str(port))
    wait_for("dashboard", lambda: answers(f"http://127.0.0.1:{port}", "/api/head"), demo, 300)
    anvil = wait_for("anvil answering", lambda: anvil_of(demo), demo, 10)
    stop_and_check(demo, signal.SIGTERM, anvil, tmp_path / "demo.log")
