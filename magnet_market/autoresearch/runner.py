"""Runs one experiment in a child process, so a crash, a hang or running out of memory costs
one ledger row, never the loop.

The child comes from a ``forkserver`` that has imported torch and the tasks once, so starting an
experiment costs a fork, not an interpreter start. Intermediate evaluations travel to the parent
over a pipe; the parent answers "continue" or "prune" (the proposer decides), and kills the child
at the deadline. The child's peak resident memory is the ``memory`` column of the ledger; its CPU
time (a forked child's counters start at zero) is what a sweep costs, whatever the machine's load.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Literal

from magnet_market.autoresearch.config import Config
from magnet_market.autoresearch.evaluate import Budget, run_experiment

# "__main__" first: children then skip re-running the main script (the CLI entry point imports
# web3 and friends) on every experiment. Scripts need the usual `if __name__ == "__main__":`.
# torch._dynamo: torch.optim imports it lazily on the first optimizer (about 1 s per child).
_PRELOAD = ["__main__", "magnet_market.autoresearch.evaluate", "torch._dynamo"]


@dataclass
class RunOutcome:
    """How one training run ended."""

    status: Literal["ok", "pruned", "crash"]
    metric: float | None = None
    seconds: float = 0.0
    memory_mb: float | None = None
    reason: str = ""
    curve: list[float] = field(default_factory=list)  # intermediate metrics, in order
    cpu_seconds: float | None = None  # user + system time of the experiment process


class _Pruned(Exception):
    """Raised in the child when the parent says the run is not worth finishing."""


def _usage() -> tuple[float, float]:
    """Peak MiB and CPU seconds of this process (Linux reports ``ru_maxrss`` in KiB)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def _child(
    conn: Connection,
    task: str,
    config: Config,
    budget: Budget,
    seed: int,
    threads: int,
    init: str | None,
    data: Mapping[str, object] | None,
) -> None:
    import torch

    torch.set_num_threads(threads)

    def report(k: int, value: float) -> None:
        conn.send(("eval", k, value))
        if conn.recv() == "prune":
            raise _Pruned

    try:
        result = run_experiment(task, config, budget, seed, report, init, data)
        conn.send(("done", result.metric, *_usage()))
    except _Pruned:
        conn.send(("pruned", None, *_usage()))
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"{type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        conn.send(("crash", reason, *_usage()))
    finally:
        conn.close()


def run_isolated(
    task: str,
    config: Config,
    budget: Budget,
    seed: int,
    *,
    timeout: float,
    threads: int = 1,
    should_prune: Callable[[int, float], bool] | None = None,
    init: str | None = None,
    data: Mapping[str, object] | None = None,
) -> RunOutcome:
    """Train and score ``config`` in a child process.

    Args:
        task, config, budget, seed: as for :func:`evaluate.run_experiment`.
        timeout: wall-clock seconds before the child is killed (status ``crash``).
        threads: torch threads of the child.
        should_prune: asked after each intermediate evaluation ``(k, metric)``.
        init: a training checkpoint to start from (see :func:`evaluate.run_experiment`).
        data: the task's data options (see :func:`evaluate.run_experiment`).
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_child, args=(child, task, config, budget, seed, threads, init, data), daemon=True
    )
    t0 = time.perf_counter()
    proc.start()
    child.close()
    curve: list[float] = []
    try:
        while True:
            remaining = timeout - (time.perf_counter() - t0)
            if remaining <= 0:
                return RunOutcome(
                    "crash",
                    None,
                    time.perf_counter() - t0,
                    None,
                    f"timeout: killed after {timeout:g} s",
                    curve,
                )
            if not parent.poll(min(remaining, 0.5)):
                continue
            try:
                kind, first, second, *cpu = parent.recv()  # evaluations carry no CPU time
            except EOFError:
                proc.join(5)
                code = proc.exitcode
                why = (
                    f"killed by signal {-code} (out of memory?)"
                    if code and code < 0
                    else (f"exit code {code}")
                )
                return RunOutcome(
                    "crash",
                    None,
                    time.perf_counter() - t0,
                    None,
                    f"experiment process died: {why}",
                    curve,
                )
            if kind == "eval":
                k, metric = first, second
                curve.append(metric)
                prune = should_prune is not None and should_prune(k, metric)
                parent.send("prune" if prune else "continue")
                continue
            seconds, peak_mb = time.perf_counter() - t0, second
            if kind == "done":
                return RunOutcome("ok", first, seconds, peak_mb, "", curve, cpu[0])
            if kind == "pruned":
                reason = f"pruned after evaluation {len(curve)}"
                return RunOutcome("pruned", None, seconds, peak_mb, reason, curve, cpu[0])
            return RunOutcome("crash", None, seconds, peak_mb, first, curve, cpu[0])
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join()
