"""Proposers: who picks the next change to try.

* :class:`OptunaProposer` with ``sampler="tpe"`` (default): Optuna's TPE sampler and median
  pruning on the intermediate evaluations (where the task prunes, ``recipes.PRUNING``);
  ``sampler="gp"``: Optuna's Gaussian-process sampler (meant for few trials), same pruning;
  ``sampler="random"``: random search, no pruning (the baseline). One study per phase in a
  SQLite file, so a killed run resumes its samplers.
* :class:`CommandProposer`: an external program (e.g. an LLM agent) reads the history as JSON on
  stdin and writes ``{"changes": {knob: value}, "description": "..."}`` on stdout.

Every proposal is checked against the search space before it is run.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import subprocess
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from magnet_market.autoresearch.config import Config, describe, diff
from magnet_market.autoresearch.errors import ConfigurationError, ProposalRejectedError
from magnet_market.autoresearch.keep import Direction
from magnet_market.autoresearch.ledger import Record
from magnet_market.autoresearch.shared import SharedLedger, prior_trials
from magnet_market.autoresearch.space import ChoiceKnob, FloatKnob, Knob, Phase, SearchSpace

Ending = Literal["complete", "pruned", "fail"]
Sampler = Literal["tpe", "gp", "random"]
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)
_MAX_REPEATS = 20  # samples already tried before a phase counts as exhausted
_MAX_REPLY_BYTES = 1 << 20  # of an external proposer's reply: a proposal is a few knobs
_MAX_NOTE = 300  # characters of its description kept in the ledger


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """A change to the current best, with the proposer's handle to report back on."""

    changes: Config
    description: str
    handle: Any = None


@dataclass(frozen=True, kw_only=True)
class ProposalContext:
    """What a proposer knows when it proposes."""

    task: str
    metric: str
    direction: Direction
    space: SearchSpace
    phase: Phase
    best: Record
    history: list[Record]
    shared: tuple[SharedLedger, ...] = ()  # other contributors' published experiments


_MAX_SHARED = 30  # shared experiments shown to an external or chat proposer per request


def swarm_facts(ctx: ProposalContext) -> list[dict[str, Any]]:
    """What other contributors measured on this phase's knobs, as a proposer's request shows
    it: each shared experiment's values and this search's best moved by its measured gain
    (``shared.prior_trials``), the largest gains first."""
    priors = sorted(
        prior_trials(ctx.shared, ctx.phase, ctx.best),
        key=lambda p: p.value,
        reverse=ctx.direction == "maximize",
    )
    return [
        {
            "source": p.source,
            "values": p.params,
            "metric_here": p.value,
            "same_parent": p.same_parent,
        }
        for p in priors[:_MAX_SHARED]
    ]


def proposal_facts(ctx: ProposalContext) -> dict[str, Any]:
    """What an external or chat proposer is told besides the history: the task, the phase's
    knobs, the current best and, when there are any, the swarm's results on the knobs."""
    facts: dict[str, Any] = {
        "task": ctx.task,
        "metric": ctx.metric,
        "direction": ctx.direction,
        "phase": ctx.phase.name,
        "knobs": {k: ctx.space.knobs[k].model_dump() for k in ctx.phase.knobs},
        "best": {"id": ctx.best.id, "metric": ctx.best.metric, "config": ctx.best.config},
    }
    if swarm := swarm_facts(ctx):
        facts["swarm"] = swarm
    return facts


class Proposer(Protocol):
    """Proposes changes; hears how each ended (values are the task metric)."""

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        """A proposal, or None when the phase has nothing left to try."""
        ...

    def should_prune(self, proposal: Proposal, k: int, value: float) -> bool: ...

    def finish(self, proposal: Proposal, ending: Ending, value: float | None) -> None: ...


def _distribution(knob: Knob) -> BaseDistribution:
    if isinstance(knob, FloatKnob):
        return FloatDistribution(knob.low, knob.high, log=knob.log)
    if isinstance(knob, ChoiceKnob):
        return CategoricalDistribution(knob.choices)
    return IntDistribution(knob.low, knob.high, log=knob.log)


def _repeat_of(study: optuna.Study, params: dict[str, Any]) -> FrozenTrial | None:
    """A finished (complete or pruned) trial of the phase with exactly these parameters,
    run here or shared from another contributor's ledger on the same parent (a shared one
    from an earlier parent is not a repeat: ``shared.py``).

    The parameters alone, not the rest of the configuration: a resumed run must end each
    phase where the uninterrupted one would, and a phase that ran dry stays dry even when a
    later phase has since changed the best.
    """
    for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if t.params == params and t.user_attrs.get("same_parent", True):
            return t
    return None


_ENDING: dict[TrialState, Ending] = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}


class OptunaProposer:
    """Optuna's ask/tell interface, one study per phase.

    Args:
        storage: SQLite file of the studies.
        sampler: ``tpe``, ``gp`` or ``random`` (never prunes).
        prune: median pruning of ``tpe`` and ``gp`` trials on their intermediate evaluations.
        seed: sampler seed (offset by the trials already in a study, so a resumed run does not
            replay its first proposals).
        n_startup_trials: random trials before TPE or the GP models the phase (Optuna's
            default of 10 is more than a short phase has).
    """

    def __init__(
        self,
        storage: Path,
        direction: Direction,
        *,
        sampler: Sampler = "tpe",
        seed: int = 0,
        n_startup_trials: int = 2,
        prune: bool = True,
    ) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.url = f"sqlite:///{Path(storage).resolve()}"
        self.direction = direction
        self.sampler_name = sampler
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.prune = prune and sampler != "random"
        self._studies: dict[str, optuna.Study] = {}

    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        seed %= 2**32  # the samplers' range; a contributor's seed plus a phase's hash exceeds it
        if self.sampler_name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if self.sampler_name == "gp":
            return optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=self.n_startup_trials, warn_independent_sampling=False
            )
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)

    def _study(self, ctx: ProposalContext, dists: dict[str, BaseDistribution]) -> optuna.Study:
        name = ctx.phase.name
        if name in self._studies:
            return self._studies[name]
        pruner = (
            # no pruning in the first half: early curves favour high lrs (short-horizon bias)
            optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=4)
            if self.prune
            else optuna.pruners.NopPruner()
        )
        study = optuna.create_study(
            storage=self.url,
            study_name=name,
            direction=self.direction,
            load_if_exists=True,
            sampler=self._make_sampler(self.seed),
            pruner=pruner,
        )
        for t in study.get_trials(states=(TrialState.RUNNING,)):
            study.tell(t.number, state=TrialState.FAIL)  # the run was killed during it
        if not study.trials:  # the phase's starting point, known without running it
            study.add_trial(
                optuna.trial.create_trial(
                    params={k: ctx.best.config[k] for k in dists},
                    distributions=dists,
                    value=ctx.best.metric,
                    intermediate_values=dict(enumerate(ctx.best.curve, start=1)),
                )
            )
            # and what other contributors measured on these knobs (stored: a resume has them)
            for prior in prior_trials(ctx.shared, ctx.phase, ctx.best):
                study.add_trial(
                    optuna.trial.create_trial(
                        params=prior.params,
                        distributions=dists,
                        value=prior.value,
                        user_attrs={"shared": prior.source, "same_parent": prior.same_parent},
                    )
                )
        # per phase and per resume, so two phases over one knob do not replay the same samples
        study.sampler = self._make_sampler(
            self.seed + zlib.crc32(name.encode()) + len(study.trials)
        )
        self._studies[name] = study
        return study

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        dists = {k: _distribution(ctx.space.knobs[k]) for k in ctx.phase.knobs}
        study = self._study(ctx, dists)
        for _ in range(_MAX_REPEATS):
            trial = study.ask(fixed_distributions=dists)
            changes = diff(ctx.best.config, trial.params)
            if not changes:  # the current best again: its value is known
                study.tell(trial, ctx.best.metric)
                continue
            earlier = _repeat_of(study, trial.params)
            if earlier is None:
                return Proposal(changes=changes, description=describe(changes), handle=trial)
            # tried before in this phase: give the sampler the same answer instead of a rerun
            for k, v in earlier.intermediate_values.items():
                trial.report(v, k)
            repeat = Proposal(changes=changes, description="", handle=trial)
            self.finish(repeat, _ENDING[earlier.state], earlier.value)
        return None

    def should_prune(self, proposal: Proposal, k: int, value: float) -> bool:
        proposal.handle.report(value, k)
        return bool(proposal.handle.should_prune())

    def finish(self, proposal: Proposal, ending: Ending, value: float | None) -> None:
        study = self._studies[proposal.handle.study.study_name]
        if ending == "complete":
            study.tell(proposal.handle, value)
        else:
            state = TrialState.PRUNED if ending == "pruned" else TrialState.FAIL
            with warnings.catch_warnings():
                # telling a pruned trial without a value makes Optuna warn; that is the intent
                warnings.simplefilter("ignore", UserWarning)
                study.tell(proposal.handle, state=state)


class CommandProposer:
    """Asks an external command for each change (history JSON in, proposal JSON out).

    Args:
        command: the program and its arguments, split like a shell would.
        timeout: seconds the command may take per proposal.
    """

    def __init__(self, command: str, *, timeout: float = 120.0) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:  # e.g. an unclosed quote
            raise ConfigurationError(f"cannot split the proposer command: {exc}") from None
        if not self.argv:
            raise ConfigurationError("the proposer command is empty")
        if shutil.which(self.argv[0]) is None:
            raise ConfigurationError(
                f"proposer {self.argv[0]!r} is neither a sampler ({', '.join(SAMPLERS)}) nor a "
                "program found on PATH"
            )
        self.timeout = timeout

    def request(self, ctx: ProposalContext) -> dict[str, Any]:
        """The JSON document the command gets on stdin."""
        return {
            **proposal_facts(ctx),
            "history": [
                {k: v for k, v in dataclasses.asdict(r).items() if k not in ("config", "curve")}
                for r in ctx.history
            ],
            "reply_with": {"changes": {"<knob>": "<value>"}, "description": "<why>"},
        }

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        return proposal_from_reply(self._ask(ctx), ctx)

    def _ask(self, ctx: ProposalContext) -> bytes:
        """The command's stdout for this request (a refusal if it does not answer)."""
        # Messages name the program only: its arguments may hold an API key, and every reason
        # is written to the ledger, the log and the next request.
        program = Path(self.argv[0]).name
        try:
            done = subprocess.run(
                self.argv,
                input=json.dumps(self.request(ctx)).encode(),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ProposalRejectedError(
                f"proposer {program} gave no reply within {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise ProposalRejectedError(
                f"proposer {program} did not start: {exc.strerror}"
            ) from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise ProposalRejectedError(
                f"proposer {program} exited with {done.returncode}: {tail[0][:200]}"
            )
        return done.stdout

    def should_prune(self, proposal: Proposal, k: int, value: float) -> bool:
        return False

    def finish(self, proposal: Proposal, ending: Ending, value: float | None) -> None:
        """The command sees every outcome in the history of its next request."""


@dataclass(frozen=True, kw_only=True)
class CommandReply:
    """An external proposer's answer: its changes (checked against the space by the caller)
    and its note, cut to what the ledger keeps."""

    changes: Any
    note: str


def proposal_from_reply(reply_bytes: bytes, ctx: ProposalContext) -> Proposal:
    """An external or chat proposer's reply as a proposal inside ``ctx``'s phase, or a
    :class:`ProposalRejectedError` saying why not."""
    reply = _decode_reply(reply_bytes)
    ctx.space.check_changes(reply.changes, ctx.phase)
    if not diff(ctx.best.config, reply.changes):
        raise ProposalRejectedError(
            f"the proposed {describe(reply.changes)} is the current best; its value is known"
        )
    text = describe(reply.changes) + (f" ({reply.note})" if reply.note else "")
    return Proposal(changes=dict(reply.changes), description=text)


def _decode_reply(stdout: bytes) -> CommandReply:
    """``stdout`` as a :class:`CommandReply`; a :class:`ProposalRejectedError` saying what is
    wrong with it otherwise (the reason goes to the ledger, so it stays short)."""
    if len(stdout) > _MAX_REPLY_BYTES:
        raise ProposalRejectedError(
            f"proposer reply is {len(stdout)} bytes; a proposal is a few knobs "
            f"(at most {_MAX_REPLY_BYTES})"
        )
    try:
        reply = json.loads(stdout.decode())
    except UnicodeDecodeError as exc:
        raise ProposalRejectedError(f"proposer reply is not UTF-8 ({exc.reason})") from None
    except (ValueError, RecursionError) as exc:  # not JSON, a too-long int, too deep
        raise ProposalRejectedError(f"proposer reply is not JSON ({exc})") from None
    if not isinstance(reply, dict) or "changes" not in reply:
        raise ProposalRejectedError('proposer reply needs a "changes" object')
    note = str(reply.get("description", "")).strip()[:_MAX_NOTE]
    return CommandReply(changes=reply["changes"], note=note)
