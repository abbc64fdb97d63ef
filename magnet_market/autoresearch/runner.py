"""Runs one experiment in a child process, so a crash, a hang or running out of memory costs
one ledger row, never the loop.

The child comes from a ``forkserver`` that has imported torch and the tasks once, so starting an
experiment costs a fork, not an interpreter start. The parent hands it a :class:`RunRequest`;
intermediate evaluations travel back over a pipe as :class:`Evaluation` messages, each answered
by a :class:`PruneAnswer` (the proposer decides), and the run ends with :class:`Finished`,
:class:`Pruned` or :class:`Crashed`. The parent kills the child at the deadline. The child's peak
resident memory is the ``memory`` column of the ledger; its CPU time (a forked child's counters
start at zero) is what a sweep costs, whatever the machine's load.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from multiprocessing import spawn
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Literal

from magnet_market.autoresearch.config import Config
from magnet_market.autoresearch.errors import AutoresearchError
from magnet_market.autoresearch.evaluate import Budget, run_experiment

# The main script first, so children skip re-running it (the CLI entry point imports web3 and
# friends) on every experiment; "__main__" does that from CPython 3.13, ``_preload_main`` before.
# Scripts need the usual `if __name__ == "__main__":`. torch._dynamo: torch.optim imports it
# lazily on the first optimizer (about 1 s per child).
_PRELOAD = [
    "__main__",
    "magnet_market.autoresearch._preload_main",
    "magnet_market.autoresearch.evaluate",
    "torch._dynamo",
]
MAIN_ENV = "MAGNET_FORKSERVER_MAIN"  # how children import the main script: ``_preload_main``
_POLL_SECONDS = 0.5  # how often the parent looks at the clock while the child is quiet

RunStatus = Literal["ok", "pruned", "crash"]


@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    """How one training run ended."""

    status: RunStatus
    metric: float | None = None
    seconds: float = 0.0
    memory_mb: float | None = None
    reason: str = ""
    curve: list[float] = field(default_factory=list)  # intermediate metrics, in order
    cpu_seconds: float | None = None  # user + system time of the experiment process


# ------------------------------------------------------------------ messages


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """Parent to child: the run to train, as :func:`evaluate.run_experiment` takes it."""

    task: str
    config: Config
    budget: Budget
    seed: int
    threads: int = 1
    init: str | None = None
    data: Mapping[str, object] | None = None


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What the child's process cost, measured as it ends."""

    peak_mb: float
    cpu_seconds: float


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """Child to parent: the ``k``-th intermediate metric; the child waits for a PruneAnswer."""

    k: int
    value: float


@dataclass(frozen=True, kw_only=True)
class PruneAnswer:
    """Parent to child, after each evaluation: stop the run or go on."""

    prune: bool


@dataclass(frozen=True, kw_only=True)
class Finished:
    """Child to parent: the run finished with its final metric."""

    metric: float
    usage: Usage


@dataclass(frozen=True, kw_only=True)
class Pruned:
    """Child to parent: the run stopped because the parent said prune."""

    usage: Usage


@dataclass(frozen=True, kw_only=True)
class Crashed:
    """Child to parent: the run raised; ``reason`` names the exception and where."""

    reason: str
    usage: Usage


Reply = Evaluation | Finished | Pruned | Crashed
_REPLIES = (Evaluation, Finished, Pruned, Crashed)


class MalformedMessageError(AutoresearchError, ValueError):
    """A message over the experiment pipe is not one of the message types."""


def decode_reply(message: object) -> Reply:
    """The child's ``message`` as a :data:`Reply` (``MalformedMessageError`` if it is not one)."""
    if isinstance(message, _REPLIES):
        return message
    names = ", ".join(t.__name__ for t in _REPLIES)
    raise MalformedMessageError(
        f"malformed reply from the experiment process: expected one of {names}, got "
        f"{type(message).__name__} {message!r:.80}"
    )


def decode_answer(message: object) -> PruneAnswer:
    """The parent's ``message`` as a :class:`PruneAnswer` (``MalformedMessageError`` if not)."""
    if isinstance(message, PruneAnswer):
        return message
    raise MalformedMessageError(
        f"malformed answer from the parent: expected PruneAnswer, got "
        f"{type(message).__name__} {message!r:.80}"
    )


# ------------------------------------------------------------------ child


class _PrunedSignal(Exception):
    """Raised in the child when the parent says the run is not worth finishing."""


def _usage() -> Usage:
    """Peak MiB and CPU seconds of this process (Linux reports ``ru_maxrss`` in KiB)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Usage(peak_mb=usage.ru_maxrss / 1024, cpu_seconds=usage.ru_utime + usage.ru_stime)


def _crash_reason(exc: Exception) -> str:
    """``Type: message (file:line)``: short enough for a ledger cell."""
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"


def _child(conn: Connection, request: RunRequest) -> None:
    import torch

    torch.set_num_threads(request.threads)

    def report(k: int, value: float) -> None:
        conn.send(Evaluation(k=k, value=value))
        if decode_answer(conn.recv()).prune:
            raise _PrunedSignal

    try:
        result = run_experiment(
            request.task,
            request.config,
            request.budget,
            request.seed,
            report=report,
            init=request.init,
            data=request.data,
        )
        conn.send(Finished(metric=result.metric, usage=_usage()))
    except _PrunedSignal:
        conn.send(Pruned(usage=_usage()))
    except Exception as exc:
        conn.send(Crashed(reason=_crash_reason(exc), usage=_usage()))
    finally:
        conn.close()


# ------------------------------------------------------------------ parent


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
    request = RunRequest(
        task=task, config=config, budget=budget, seed=seed, threads=threads, init=init, data=data
    )
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    _name_main_script()
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, request), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    child.close()
    try:
        return _supervise(parent, proc, t0, timeout, should_prune)
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join()


def _name_main_script() -> None:
    """Tell the forkserver (started by the first experiment, with this environment) how its
    children would import the main script, so that ``_preload_main`` imports it there once."""
    data = spawn.get_preparation_data("experiment")
    main = {key: data[key] for key in ("init_main_from_name", "init_main_from_path") if key in data}
    os.environ[MAIN_ENV] = json.dumps(main)


def _supervise(
    parent: Connection,
    proc: BaseProcess,
    t0: float,
    timeout: float,
    should_prune: Callable[[int, float], bool] | None,
) -> RunOutcome:
    """Answer the child's evaluations until its last reply, its death or the deadline."""
    curve: list[float] = []
    while True:
        remaining = timeout - (time.perf_counter() - t0)
        if remaining <= 0:
            return _failed(f"timeout: killed after {timeout:g} s", t0, curve)
        if not parent.poll(min(remaining, _POLL_SECONDS)):
            continue
        try:
            reply = decode_reply(parent.recv())
        except EOFError:
            return _failed(f"experiment process died: {_exit_reason(proc)}", t0, curve)
        except MalformedMessageError as exc:
            return _failed(str(exc), t0, curve)
        if isinstance(reply, Evaluation):
            curve.append(reply.value)
            prune = should_prune is not None and should_prune(reply.k, reply.value)
            parent.send(PruneAnswer(prune=prune))
            continue
        return _outcome(reply, time.perf_counter() - t0, curve)


def _outcome(reply: Finished | Pruned | Crashed, seconds: float, curve: list[float]) -> RunOutcome:
    """The outcome of a run that ended with ``reply``."""
    ended = RunOutcome(
        status="crash",
        seconds=seconds,
        memory_mb=reply.usage.peak_mb,
        curve=curve,
        cpu_seconds=reply.usage.cpu_seconds,
    )
    if isinstance(reply, Finished):
        return replace(ended, status="ok", metric=reply.metric)
    if isinstance(reply, Pruned):
        return replace(ended, status="pruned", reason=f"pruned after evaluation {len(curve)}")
    return replace(ended, reason=reply.reason)


def _failed(reason: str, t0: float, curve: list[float]) -> RunOutcome:
    """A run that ended without a reply: no memory or CPU time is known."""
    return RunOutcome(status="crash", seconds=time.perf_counter() - t0, reason=reason, curve=curve)


def _exit_reason(proc: BaseProcess) -> str:
    """Why a child that closed its pipe without a reply is gone."""
    proc.join(5)
    code = proc.exitcode
    if code and code < 0:
        return f"killed by signal {-code} (out of memory?)"
    return f"exit code {code}"
