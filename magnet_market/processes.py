"""Child processes that stop with their parent: no anvil, IPFS daemon or role process outlives us.

Two halves: ``spawn`` starts a child in its own process group that Linux sends SIGTERM when we
die, even by SIGKILL (``PR_SET_PDEATHSIG``), and ``stop_child`` stops that whole group;
``exit_on_signals`` turns SIGTERM and SIGHUP into ``SystemExit`` so that every ``with`` block
and ``finally`` that stops a child runs, as Ctrl-C (``KeyboardInterrupt``) already does.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

#: ``prctl`` option from ``<linux/prctl.h>``: the signal this process gets when its parent dies.
PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int]:
    """libc's ``prctl``, looked up once in the parent so the forked child only calls it."""
    return ctypes.CDLL(None, use_errno=True).prctl


def _die_with(parent_pid: int) -> Callable[[], None]:
    """The ``preexec_fn`` that makes the child receive SIGTERM when ``parent_pid`` dies."""
    prctl = _prctl()

    def in_child() -> None:
        # Until exec, a parent's Python handler would swallow the death signal: use the default.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # the parent died before prctl: nobody will signal us
            os._exit(128 + signal.SIGTERM)

    return in_child


def spawn(args: Sequence[str | os.PathLike[str]], **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **popen_kwargs)`` for a child that must not outlive us.

    The child leads a new session, so ``stop_child`` reaches everything it starts and a
    terminal's Ctrl-C reaches only us (we then stop it). On Linux it also gets SIGTERM when the
    spawning *thread* ends, however it ends: spawn from a thread that lives as long as the child
    (normally the main thread).
    """
    die_with_parent = _die_with(os.getpid()) if sys.platform.startswith("linux") else None
    return subprocess.Popen(
        args, start_new_session=True, preexec_fn=die_with_parent, **popen_kwargs
    )


def stop_child(
    process: subprocess.Popen[Any], first_signal: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Send ``first_signal`` to the child's process group, wait, then SIGKILL it if it lingers.

    Whatever is left in the group once the child has exited is killed too, so nothing it
    started outlives it.
    """
    if process.poll() is None:
        _signal_group(process, first_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout)
    _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already empty
        os.killpg(process.pid, signum)


@contextlib.contextmanager
def exit_on_signals(
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGHUP),
) -> Iterator[None]:
    """While inside, ``signals`` raise ``SystemExit(128 + signum)`` in the main thread.

    So ``kill``, a service manager or a closed terminal unwind the program like Ctrl-C does.
    The first signal wins: repeats are ignored so they cannot cut short the cleanup it started.
    Signals that are ignored on entry (``nohup``) stay ignored; previous handlers come back on
    exit. Outside the main thread, where Python cannot handle signals, it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    exiting = False

    def exit_once(signum: int, _frame: FrameType | None) -> None:
        nonlocal exiting
        if not exiting:
            exiting = True
            raise SystemExit(128 + signum)

    previous = {
        signum: signal.signal(signum, exit_once)
        for signum in signals
        if signal.getsignal(signum) is signal.SIG_DFL
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
