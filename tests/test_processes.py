"""`magnet_market.processes`: children die with their parent, whichever signal stops it.

Each test runs a small parent Python process that spawns `sleep` through the helper, then
stops that parent the way a user or a service manager would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from magnet_market.processes import exit_on_signals, spawn, stop_child

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

ROOT = Path(__file__).resolve().parents[1]

#: Spawns a sleeping child, prints its pid, and stops it in ``finally`` (then says so).
PARENT = textwrap.dedent(
    """
    import time
    from magnet_market.processes import exit_on_signals, spawn, stop_child

    with exit_on_signals():
        child = spawn(["sleep", "60"])
        try:
            print(child.pid, flush=True)
            time.sleep(60)
        finally:
            stop_child(child, timeout=5)
            print("child stopped", flush=True)
    """
)


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a container's init may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    """Poll until ``pid`` is no longer running; ``False`` if it still is after ``timeout``."""
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def start_parent() -> tuple[subprocess.Popen[str], int]:
    """The parent process and its child's pid, once the child runs."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def test_a_child_dies_with_a_parent_killed_by_sigkill():
    parent, child = start_parent()
    try:
        parent.kill()  # no handler, no finally: only the kernel's death signal is left
        assert parent.wait(timeout=10) == -signal.SIGKILL
        assert wait_until_gone(child)
    finally:
        parent.stdout.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_parent_runs_its_finally_and_stops_its_child(signum):
    parent, child = start_parent()
    parent.send_signal(signum)
    out, _ = parent.communicate(timeout=10)
    assert parent.returncode == 128 + signum
    assert out == "child stopped\n"
    assert wait_until_gone(child)


def test_stop_child_stops_what_the_child_started():
    shell = spawn(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    grandchild = int(shell.stdout.readline())
    stop_child(shell, timeout=5)
    shell.stdout.close()
    assert shell.returncode == -signal.SIGTERM
    assert wait_until_gone(grandchild)


def test_exit_on_signals_keeps_ignored_signals_and_restores_handlers():
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under `nohup`
    try:
        with exit_on_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
            with pytest.raises(SystemExit) as exited:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler runs at the next bytecode; never reached
            assert exited.value.code == 128 + signal.SIGTERM
            os.kill(os.getpid(), signal.SIGTERM)  # a repeat must not cut the cleanup short
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGHUP, previous_hup)
