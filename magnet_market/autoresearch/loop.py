"""The experiment loop: a baseline, then phases of proposals, each kept only if it beats noise.

Each experiment is a :class:`~magnet_market.autoresearch.trial.Trial` carried through the steps
of the idea: propose a change to the best, run it under the fixed budget, compare it with the
best beyond the measured noise, keep or discard it, record it.

Per phase, every other knob stays at the current best. An experiment is a diff against the
current best, trained under the run's fixed budget on the best's seeds (same initialisation,
same batches: ``Settings.seeds`` runs, the first alone deciding when there are two; then, with
``Settings.confirm``, both again on fresh seeds; see ``keep.py``), in a child process
(``runner.py``), so exceptions, NaN losses, timeouts and out-of-memory kills become ``crash``
rows and the loop goes on. The ledger (``ledger.py``) and the Optuna studies (``study.db``) are
the run's state: running the same settings on the same folder resumes after the last finished
experiment. The ledger is written before the sampler hears the outcome, and the outputs after
every experiment, so a kill at any point loses at most the experiment being run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from magnet_market._atomic import write_atomic
from magnet_market.autoresearch.chat import PREFIX as CHAT_PREFIX
from magnet_market.autoresearch.chat import ChatProposer
from magnet_market.autoresearch.config import Config, apply, build, diff
from magnet_market.autoresearch.errors import (
    ConfigurationError,
    DefaultCrashedError,
    ProposalRejectedError,
    RunMismatchError,
)
from magnet_market.autoresearch.evaluate import Budget, task_definition
from magnet_market.autoresearch.keep import confirm, decide, improvement, noise, screen, spread
from magnet_market.autoresearch.ledger import Ledger, Record, Status, measured_spreads
from magnet_market.autoresearch.plot import plot_progress
from magnet_market.autoresearch.proposers import (
    SAMPLERS,
    CommandProposer,
    OptunaProposer,
    Proposal,
    ProposalContext,
    Proposer,
)
from magnet_market.autoresearch.recipes import DEFAULTS, PRUNING, SPACES
from magnet_market.autoresearch.runner import RunOutcome, run_isolated
from magnet_market.autoresearch.shared import SharedLedger
from magnet_market.autoresearch.space import Phase, SearchSpace
from magnet_market.autoresearch.trial import Trial
from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.model import config_to_dict

log = logging.getLogger(__name__)
_PACKAGE_LOG = logging.getLogger("magnet_market.autoresearch")


class _FileLog:
    """This thread's lines of the package logger in a run's ``autoresearch.log``.

    Runs in other threads of the process (contributors side by side) log to the same logger:
    each file takes only its own thread's lines, and the logger stays at INFO until the last
    run of the process ends (the first one to end must not silence the others).
    """

    _lock = threading.Lock()
    _active = 0
    _level = logging.NOTSET

    def __init__(self, path: Path) -> None:
        self.handler = logging.FileHandler(path)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        this_thread = threading.get_ident()
        self.handler.addFilter(lambda record: record.thread == this_thread)

    def __enter__(self) -> None:
        with _FileLog._lock:
            if not _FileLog._active:
                _FileLog._level = _PACKAGE_LOG.level
                _PACKAGE_LOG.setLevel(logging.INFO)
            _FileLog._active += 1
            _PACKAGE_LOG.addHandler(self.handler)

    def __exit__(self, *exc: object) -> None:
        with _FileLog._lock:
            _PACKAGE_LOG.removeHandler(self.handler)
            self.handler.close()
            _FileLog._active -= 1
            if not _FileLog._active:
                _PACKAGE_LOG.setLevel(_FileLog._level)


@dataclass(frozen=True)
class Settings:
    """One autoresearch run.

    Args:
        task: a task name (``tinylm``, ``digits``).
        budget: training seconds or steps of every experiment.
        trials_per_phase: experiments per phase (raise it to extend a finished run).
        proposer: ``tpe`` (default), ``gp``, ``random``, ``chat:URL[#MODEL]`` (a chat model
            behind an OpenAI-compatible API, ``chat.py``), or a command line of an external
            proposer.
        seed: first seed: the baseline runs seeds s, s+1, ...; a candidate runs the best's
            seeds (after a confirmed keep, the fresh seeds it was confirmed on).
        threads: torch threads per experiment.
        timeout: seconds before an experiment is killed (default: ``experiment_timeout``).
        min_improvement: smallest gain worth keeping, even when the measured spread is smaller.
        init: a training checkpoint every experiment starts from (e.g. the round's parent);
            it fixes the model shape, so the ``model.*`` knobs leave the search space.
        data: the task's data options (e.g. ``{"seq_len": 64}`` for a market task's tinylm);
            default the task's own.
        seeds: runs of a candidate (at least 2; the baseline runs ``max(3, seeds)``). With 2,
            a candidate whose first run loses to the best's is discarded without a re-run; with
            more, every candidate runs them all (one run is the noise they average out) and
            the keep level falls by ``√(2/seeds)`` (``keep.py``).
        confirm: re-run a candidate that passed, and the best, on fresh seeds before keeping
            it; keep only if it is better there too and beats the noise over both seed sets
            pooled (``keep.confirm``). A candidate selected as the best of many on
            the same seeds is lucky on them: its runs there overstate it, and a best that
            looks better than it is blocks the real gains after it (winner's curse).
        proxy: the promotion ladder: a candidate first trains this fraction of the budget on
            the first seed, beside the best's proxy runs on the first two seeds; only one
            whose proxy run beats the best's same-seed proxy run by more than the proxy noise
            (the mean spread of the bests' proxy runs) is run at the full budget. ``None``:
            every candidate runs at the full budget.
    """

    task: str
    budget: Budget
    _: KW_ONLY
    trials_per_phase: int = 5
    proposer: str = "tpe"
    seed: int = 0
    threads: int = 1
    timeout: float | None = None
    min_improvement: float = 0.0
    init: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seeds: int = 2
    confirm: bool = False
    proxy: float | None = None

    def experiment_timeout(self, kept_run_seconds: float | None = None) -> float:
        """Seconds before a run is killed as hung: ``timeout``, else from the budget.

        A step budget's run time is unknown until the baseline has run (a market round's
        inner steps may take an hour), so the baseline gets an hour. Later runs get 20 times
        the slowest kept configuration's run (``kept_run_seconds``): one phase can multiply a
        step's cost that much (tinylm's width 64 -> 256 is 16 times the matmul work; at 10
        times the baseline's run, a d_model=256 run at batch 64 was killed as hung).
        """
        if self.timeout is not None:
            return self.timeout
        if self.budget.seconds is not None:
            return 3 * self.budget.seconds + 60  # evaluation and process start on top
        if kept_run_seconds is None:
            return 3600.0
        return 20 * kept_run_seconds + 60

    def identity(self) -> dict:
        """What must match to resume a run (the rest may change between sessions)."""
        return {
            "task": self.task,
            "budget": asdict(self.budget),
            "proposer": self.proposer,
            "seed": self.seed,
            "min_improvement": self.min_improvement,
            "init": self.init,
            "data": self.data,
            "seeds": self.seeds,
            "confirm": self.confirm,
            "proxy": self.proxy,
        }


class Observer:
    """Hooks for a live view; the default does nothing."""

    def experiment_started(self, experiment_id: int, phase: str, description: str) -> None:
        """An experiment begins (``description`` is its diff)."""

    def evaluated(self, k: int, value: float) -> None:
        """Intermediate evaluation ``k`` of the running experiment."""

    def recorded(self, record: Record, best: Record) -> None:
        """An experiment was decided and written to the ledger."""


class Autoresearch:
    """Runs (or resumes) the loop of ``settings`` in ``out_dir``.

    Args:
        settings: the run.
        out_dir: ledger, studies, best configuration and plot go here.
        space: the search space (default: the task's, ``recipes.SPACES``).
        default: the starting configuration (default: the task's, ``recipes.DEFAULTS``).
        observer: live-view hooks.
        shared: other contributors' published experiments, the samplers' priors
            (``shared.py``).
    """

    def __init__(
        self,
        settings: Settings,
        out_dir: Path,
        *,
        space: SearchSpace | None = None,
        default: Config | None = None,
        observer: Observer | None = None,
        shared: Sequence[SharedLedger] = (),
    ) -> None:
        try:
            self.task = task_definition(settings.task)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if settings.trials_per_phase < 1:
            raise ConfigurationError("trials_per_phase must be >= 1")
        if settings.seeds < 2:
            raise ConfigurationError("seeds must be >= 2 (two runs measure a spread)")
        if settings.proxy is not None and not 0 < settings.proxy < 1:
            raise ConfigurationError(f"proxy must be a fraction in (0, 1), got {settings.proxy}")
        self.settings = settings
        self.out_dir = Path(out_dir)
        self.space = space or SPACES[settings.task]
        self.default = dict(default or DEFAULTS[settings.task])
        if settings.init is not None:
            self._start_from_checkpoint(settings.init, keep_default=default is not None)
        self.space.check_fits(self.default)
        self._check_buildable(self.default, "the starting configuration")
        self.observer = observer or Observer()
        self.shared = tuple(shared)
        self.ledger = Ledger(self.out_dir)
        self._kept_run_seconds: float | None = None  # known once the baseline has run
        self.proposer = self._make_proposer()

    # ------------------------------------------------------------------ public

    def run(self) -> Record:
        """Run every phase to its trials (``trials_per_phase`` unless the phase sets them);
        returns the best record."""
        self._claim_folder()
        records = self.ledger.records()
        if records:  # killed between the ledger's fsync and the table's rewrite
            self.ledger.write_tsv(records)
        try:
            with _FileLog(self.out_dir / "autoresearch.log"):
                if not records:
                    records.append(self._baseline())
                self._kept_run_seconds = _slowest_run(records)
                for phase in self.space.phases:
                    trials = phase.trials or self.settings.trials_per_phase
                    while sum(r.phase == phase.name for r in records) < trials:
                        record = self._experiment(phase, records)
                        if record is None:
                            log.info("phase %s: nothing left to try", phase.name)
                            break
                        records.append(record)
                        self.write_outputs(records)
                        if record.status == "keep":
                            self._kept_run_seconds = _slowest_run(records)
        finally:
            if records:
                self.write_outputs(records)
        return best_of(records)

    def write_outputs(self, records: list[Record]) -> None:
        """``best_config.json`` and ``progress.png`` from ``records``."""
        best = best_of(records)
        summary = {
            "task": self.task.name,
            "metric": self.task.metric,
            "direction": self.task.direction,
            "budget": asdict(self.settings.budget),
            "default_metric": records[0].metric,
            "best_metric": best.metric,
            "best_experiment": best.id,
            "changes_from_default": diff(self.default, best.config),
            "config": best.config,
        }
        write_atomic(self.out_dir / "best_config.json", json.dumps(summary, indent=2) + "\n")
        plot_progress(records, self.task.metric, self.task.direction, self.out_dir / "progress.png")

    # ------------------------------------------------------------------ steps

    def _baseline(self) -> Record:
        """The default configuration on the baseline seeds: the first best and the first
        measure of the noise."""
        self.observer.experiment_started(0, "baseline", "default configuration")
        seeds = self._seeds()
        outcomes = [self._run(self.default, seed) for seed in seeds]
        crashed = [o for o in outcomes if o.status != "ok"]
        if crashed:
            raise DefaultCrashedError(f"the default configuration crashed: {crashed[0].reason}")
        runs = [_metric(o) for o in outcomes]
        trial = Trial(
            id=0,
            phase="baseline",
            parent=None,
            config=self.default,
            description=(
                f"default configuration (seeds {seeds}: {_fmt(runs)}; spread {spread(runs):.4g})"
            ),
            outcomes=tuple(outcomes),
            status="keep",
            seeds=tuple(seeds),
        )
        return self._record(trial, best=None)

    def _experiment(self, phase: Phase, records: list[Record]) -> Record | None:
        """Propose a change to the best, run it under the budget, compare it with the noise,
        keep or discard it, and record it; None when the phase has nothing left to try."""
        best = best_of(records)
        trial = Trial(id=records[-1].id + 1, phase=phase.name, parent=best.id, config=best.config)
        try:
            proposal = self.proposer.propose(self._context(phase, best, records))
        except ProposalRejectedError as exc:
            log.warning("experiment %d: refused proposal: %s", trial.id, exc)
            return self._record(trial.refused(str(exc)), best)
        if proposal is None:
            return None
        trial = trial.proposing(proposal)
        self.observer.experiment_started(trial.id, phase.name, proposal.description)
        trial = self._evaluate(trial, proposal, best, records)
        # The ledger first: killed before the sampler hears it, the trial is failed on resume
        # and may be proposed again; the other way round, a sampler could answer a repeat of
        # an experiment the ledger never recorded.
        record = self._record(trial, best)
        self.proposer.finish(proposal, trial.ending, trial.value)
        return record

    def _evaluate(
        self, trial: Trial, proposal: Proposal, best: Record, records: list[Record]
    ) -> Trial:
        """Run the candidate on the best's seeds (paired: same init, same batches) and decide
        it; with two seeds, a first run no better than the best's same-seed run ends it."""
        try:
            self._check_buildable(trial.config, "the proposed configuration")
        except ConfigurationError as exc:
            return trial.invalid(str(exc))
        seeds = self._seeds_of(best)[: self.settings.seeds]
        if self.settings.proxy is not None:
            trial = self._screen_at_proxy(trial, seeds, best, records)
            if trial.status is not None:
                return trial
        first = self._run(trial.config, seeds[0], partial(self._should_prune, proposal))
        trial = trial.ran([first])
        if first.status == "crash":
            return trial.crashed(first.reason)
        if first.status == "pruned":
            return trial.decided("discard", first.reason, ending="pruned")
        if self.settings.seeds == 2:
            gate = screen(_metric(first), best.runs[0], self.task.direction)
            if not gate.keep:
                why = f"seed {seeds[0]}: gain {gate.gain:+.4g} vs the best's same-seed run"
                return trial.decided("discard", why, value=first.metric, seeds=seeds[:1])
        rest = self._run_seeds(trial.config, seeds[1:])
        trial = trial.ran(rest)
        if failed := _first_failure(seeds[1:], rest):
            return trial.crashed(failed)
        return self._compare(trial, seeds, best, records)

    def _screen_at_proxy(
        self, trial: Trial, seeds: list[int], best: Record, records: list[Record]
    ) -> Trial:
        """The ladder's first rung: the candidate's proxy run on the first seed against the
        best's on the same seed; decided (discarded) there unless it beats the proxy noise,
        returned undecided to run at the full budget otherwise."""
        proxy = self._proxy_budget()
        best_runs = _runs_of_best(best, records, "proxy_parent_runs")
        if best_runs is None:
            outcomes = [self._run(best.config, seed, budget=proxy) for seed in seeds[:2]]
            trial = trial.ran_best(outcomes)
            if _first_failure(seeds[:2], outcomes):  # no proxy reference: the full rung decides
                return trial
            best_runs = [_metric(o) for o in outcomes]
        run = self._run(trial.config, seeds[0], budget=proxy)
        trial = trial.proxied(run, best_runs)
        where = f"proxy ({proxy.describe()}) seed {seeds[0]}"
        if run.status != "ok":
            return trial.decided("crash", f"{where}: {run.reason}", ending="fail", rung="proxy")
        spreads = [spread(r) for r in _proxy_references(records, best.id, best_runs)]
        level = noise(spreads, self.settings.min_improvement)  # the mean proxy spread
        gain = improvement(_metric(run), best_runs[0], self.task.direction)
        if gain > level:  # promoted: the full rung decides
            note = f"{where}: gain {gain:+.4g} > proxy noise {level:.4g}, promoted"
            return replace(trial, description=f"{trial.description}; {note}")
        why = f"{where}: gain {gain:+.4g} <= proxy noise {level:.4g}"
        return trial.decided("discard", why, ending="pruned", rung="proxy")

    def _proxy_budget(self) -> Budget:
        assert self.settings.proxy is not None  # only the ladder asks
        return self.settings.budget.scaled(self.settings.proxy)

    def _compare(
        self, trial: Trial, seeds: list[int], best: Record, records: list[Record]
    ) -> Trial:
        """Keep the candidate when the mean of its runs beats the best's on the same seeds by
        more than the noise measured so far (``keep.py``), confirmed if the settings ask."""
        runs = trial.metrics
        spreads = [*measured_spreads(records), spread(runs)]
        level = noise(spreads, self.settings.min_improvement, self.settings.seeds)
        verdict = decide(runs, best.runs, self.task.direction, level)
        why = f"seeds {seeds}: {_fmt(runs)}; {verdict.explain()}"
        if verdict.keep and self.settings.confirm:
            return self._confirm(trial, why, seeds, best, records)
        status: Status = "keep" if verdict.keep else "discard"
        return trial.decided(status, why, value=_mean(runs), seeds=seeds)

    def _confirm(
        self, trial: Trial, why: str, seeds: list[int], best: Record, records: list[Record]
    ) -> Trial:
        """Run the candidate and the best again on seeds no one was selected on (``keep.py``):
        a candidate picked as the best of many on the same seeds is partly the luckiest."""
        n = self.settings.seeds
        fresh = [max(self._seeds_of(best)) + 1 + i for i in range(n)]
        parent_runs = _runs_of_best(best, records, "parent_runs")
        if parent_runs is None:
            reruns = self._run_seeds(best.config, fresh)
            trial = trial.ran_best(reruns)
            if failed := _first_failure(fresh, reruns):
                return trial.crashed(f"{why}; confirmation: the best's {failed}")
            parent_runs = [o.metric for o in reruns if o.metric is not None]
        again = self._run_seeds(trial.config, fresh)
        trial = trial.ran(again)
        if failed := _first_failure(fresh, again):
            return trial.crashed(f"{why}; confirmation: {failed}")
        runs, fresh_runs = trial.metrics[:-n], trial.metrics[-n:]
        spreads = [*measured_spreads(records), *map(spread, (runs, fresh_runs, parent_runs))]
        level = noise(spreads, self.settings.min_improvement, 2 * n)
        verdict = confirm(runs, best.runs, fresh_runs, parent_runs, self.task.direction, level)
        why += (
            f"; fresh seeds {fresh}: {_fmt(fresh_runs)} vs the best's {_fmt(parent_runs)}: "
            f"{verdict.explain()}"
        )
        # What the sampler is told is the mean on the seeds the phase's other trials ran on.
        if verdict.keep:
            return trial.decided(
                "keep",
                why,
                value=_mean(runs),
                seeds=fresh,
                runs=fresh_runs,
                screen_runs=runs,
                parent_runs=parent_runs,
            )
        return trial.decided(
            "discard",
            f"{why} (not confirmed)",
            value=_mean(runs),
            seeds=[*seeds, *fresh],
            runs=[*runs, *fresh_runs],
            parent_runs=parent_runs,
        )

    def _record(self, trial: Trial, best: Record | None) -> Record:
        """Write the decided ``trial`` to the ledger, the log and the observer."""
        record = trial.record()
        self.ledger.append(record)
        log.info(
            "experiment %d [%s] %s: %s", record.id, record.phase, record.status, record.description
        )
        # the baseline (no best before it) is the first best
        self.observer.recorded(record, record if record.status == "keep" or best is None else best)
        return record

    # ------------------------------------------------------------------ helpers

    def _context(self, phase: Phase, best: Record, records: list[Record]) -> ProposalContext:
        return ProposalContext(
            task=self.task.name,
            metric=self.task.metric,
            direction=self.task.direction,
            space=self.space,
            phase=phase,
            best=best,
            history=list(records),
            shared=self.shared,
        )

    def _should_prune(self, proposal: Proposal, k: int, value: float) -> bool:
        """Shows evaluation ``k`` and asks the proposer whether the run is worth finishing."""
        self.observer.evaluated(k, value)
        return self.proposer.should_prune(proposal, k, value)

    def _seeds(self) -> list[int]:
        """Baseline seeds; candidates use the first ``seeds`` (a third run measures noise
        better)."""
        return [self.settings.seed + i for i in range(max(3, self.settings.seeds))]

    def _seeds_of(self, record: Record) -> list[int]:
        """The seeds of ``record.runs`` (ledgers from before ``seeds``: s, s+1, ...)."""
        return record.seeds or [self.settings.seed + i for i in range(len(record.runs))]

    def _run(
        self,
        config: Config,
        seed: int,
        prune: Callable[[int, float], bool] | None = None,
        budget: Budget | None = None,
    ) -> RunOutcome:
        """One run of ``config`` on ``seed`` under the budget (or ``budget``: a proxy's), in a
        child process."""
        return run_isolated(
            self.task.name,
            config,
            budget or self.settings.budget,
            seed,
            timeout=self.settings.experiment_timeout(self._kept_run_seconds),
            threads=self.settings.threads,
            should_prune=prune,
            init=self.settings.init,
            data=self.settings.data,
        )

    def _run_seeds(self, config: Config, seeds: list[int]) -> list[RunOutcome]:
        """Runs of ``config`` on each of ``seeds`` in order, up to the first that fails."""
        outcomes: list[RunOutcome] = []
        for seed in seeds:
            outcomes.append(self._run(config, seed))
            if outcomes[-1].status != "ok":
                break
        return outcomes

    def _check_buildable(self, config: Config, what: str) -> None:
        b = self.settings.budget
        try:
            build(config, steps=b.steps, seconds=b.seconds, seed=0)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{what} is invalid: {exc}") from None

    def _start_from_checkpoint(self, path: str, keep_default: bool) -> None:
        """Take the model shape from the checkpoint and stop sweeping it."""
        shape = config_to_dict(checkpoint.load(path).config)
        if not keep_default:
            model = {f"model.{k}": v for k, v in shape.items() if k != "use_kernel"}
            self.default = apply(self.default, model)
        self.space = self.space.without("model.")

    def _make_proposer(self) -> Proposer:
        name = self.settings.proposer
        if name in SAMPLERS:
            return OptunaProposer(
                self.out_dir / "study.db",
                self.task.direction,
                sampler=name,
                seed=self.settings.seed,
                prune=PRUNING.get(self.task.name, True),
            )
        if name.startswith(CHAT_PREFIX):
            return ChatProposer(name)
        return CommandProposer(name)

    def _claim_folder(self) -> None:
        """Write ``run.json``, or check that the folder's run has the same identity."""
        path = self.out_dir / "run.json"
        identity = {
            **self.settings.identity(),
            "space": self.space.model_dump(exclude_none=True),  # as before phases had trials
            "default": self.default,
        }
        if self.settings.init is not None:
            # The checkpoint's content, not only its path: a file overwritten with the next
            # round's parent would pair new candidates with the old weights' best.
            with open(self.settings.init, "rb") as f:
                identity["init_sha256"] = hashlib.file_digest(f, "sha256").hexdigest()
        if path.exists():
            # folders from before --seeds and --confirm, and before the checkpoint's hash
            found = {"seeds": 2, "confirm": False, "proxy": None, **json.loads(path.read_text())}
            found.setdefault("init_sha256", identity.get("init_sha256"))
            differ = sorted(k for k in identity if found.get(k) != identity[k])
            if differ:
                raise RunMismatchError(
                    f"{self.out_dir} holds a run with other {', '.join(differ)}; "
                    "resume with the same settings or choose another output folder"
                )
            return
        write_atomic(path, json.dumps(identity, indent=2, sort_keys=True) + "\n")


def _slowest_run(records: list[Record]) -> float:
    """The longest seconds per run of a kept configuration (a keep's time includes the runs it
    was screened on, and the best's re-runs for its confirmation: an over- not an
    under-estimate)."""
    return max(
        r.seconds / max(1, len(r.runs) + len(r.screen_runs)) for r in records if r.status == "keep"
    )


def best_of(records: list[Record]) -> Record:
    """The current best: the last kept record (each keep beat the one before it)."""
    return next(r for r in reversed(records) if r.status == "keep")


def _runs_of_best(best: Record, records: list[Record], field: str) -> list[float] | None:
    """The best's runs that an earlier candidate measured beside it and recorded in ``field``
    (``parent_runs``: a confirmation's fresh seeds; ``proxy_parent_runs``: the ladder's proxy
    runs). Runs are deterministic per seed, so they need not run again; None if none did."""
    return next(
        (getattr(r, field) for r in records if r.parent == best.id and getattr(r, field)), None
    )


def _proxy_references(
    records: list[Record], best_id: int, best_runs: list[float]
) -> list[list[float]]:
    """Every best's proxy runs measured so far, once each (their spreads are the proxy
    noise), the current best's included."""
    seen: dict[int | None, list[float]] = {best_id: best_runs}
    for r in records:
        if r.proxy_parent_runs and r.parent not in seen:
            seen[r.parent] = r.proxy_parent_runs
    return list(seen.values())


def _first_failure(seeds: list[int], outcomes: list[RunOutcome]) -> str:
    """``seed S: reason`` of the first run that did not finish, or "" when all did."""
    ran = zip(seeds, outcomes, strict=False)  # the runs stop at the first failure
    return next((f"seed {s}: {o.reason}" for s, o in ran if o.status != "ok"), "")


def _metric(outcome: RunOutcome) -> float:
    """The metric of a run that finished (an error if it did not: the caller checked)."""
    if outcome.status != "ok" or outcome.metric is None:
        raise ValueError(f"a run that ended {outcome.status!r} has no metric to score")
    return outcome.metric


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"
