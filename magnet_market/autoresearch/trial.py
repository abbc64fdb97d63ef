"""One experiment on its way to the ledger: the record the loop carries from step to step.

A trial is proposed (a change to the current best), run under the fixed budget on seeds, compared
with the best beyond the noise, kept or discarded, and recorded. Each step returns a new trial,
so the loop reads as that sequence; :meth:`Trial.record` turns the decided trial into its ledger
row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from magnet_market.autoresearch.config import Config, apply
from magnet_market.autoresearch.keep import spread
from magnet_market.autoresearch.ledger import Record, Status
from magnet_market.autoresearch.proposers import Ending, Proposal
from magnet_market.autoresearch.runner import RunOutcome


@dataclass(frozen=True, kw_only=True)
class Trial:
    """An experiment: what was proposed, the runs it cost, and how it was decided.

    ``outcomes`` are the configuration's runs in order; ``overhead`` the best's re-runs on fresh
    seeds for a confirmation (they count in the trial's time, not its memory). Until
    :meth:`decided`, ``status`` is None. The scored ``runs`` are every finished run unless the
    decision names them (a confirmed keep is scored on its fresh seeds only).
    """

    id: int
    phase: str
    parent: int | None  # the best it is compared with; None for the baseline
    config: Config
    changes: Config = field(default_factory=dict)
    description: str = ""  # what was proposed, then why it was decided so
    outcomes: tuple[RunOutcome, ...] = ()
    overhead: tuple[RunOutcome, ...] = ()
    status: Status | None = None
    ending: Ending = "fail"  # how the sampler hears that it ended
    value: float | None = None  # the value the sampler hears
    seeds: tuple[int, ...] = ()  # of the scored runs
    runs: tuple[float, ...] | None = None
    screen_runs: tuple[float, ...] = ()
    parent_runs: tuple[float, ...] = ()
    rung: str = "full"
    proxy_runs: tuple[float, ...] = ()
    proxy_parent_runs: tuple[float, ...] = ()

    @property
    def metrics(self) -> list[float]:
        """The metrics of the configuration's finished runs, in order."""
        return [o.metric for o in self.outcomes if o.status == "ok" and o.metric is not None]

    def proposing(self, proposal: Proposal) -> Trial:
        """This trial of the best's configuration with ``proposal``'s changes applied."""
        return replace(
            self,
            config=apply(self.config, proposal.changes),
            changes=proposal.changes,
            description=proposal.description,
        )

    def ran(self, outcomes: Iterable[RunOutcome]) -> Trial:
        """With more runs of its configuration."""
        return replace(self, outcomes=(*self.outcomes, *outcomes))

    def ran_best(self, outcomes: Iterable[RunOutcome]) -> Trial:
        """With runs of the best that this trial's confirmation needed."""
        return replace(self, overhead=(*self.overhead, *outcomes))

    def proxied(self, run: RunOutcome, best_runs: Iterable[float]) -> Trial:
        """With its proxy run (its cost counts in the trial's time) and the best's proxy runs
        it is screened against."""
        return replace(
            self,
            overhead=(*self.overhead, run),
            proxy_runs=(*self.proxy_runs, *([] if run.metric is None else [run.metric])),
            proxy_parent_runs=tuple(best_runs),
        )

    def refused(self, reason: str) -> Trial:
        """The proposer's answer was refused: nothing ran."""
        return replace(self, status="crash", description=f"refused proposal: {reason}")

    def invalid(self, reason: str) -> Trial:
        """The proposed configuration cannot be built: nothing ran."""
        return replace(self, status="crash", description=f"{self.description}: {reason}")

    def crashed(self, why: str) -> Trial:
        """A run failed: nothing is scored and the sampler hears a failure."""
        return self.decided("crash", why, ending="fail")

    def decided(
        self,
        status: Status,
        why: str,
        *,
        ending: Ending = "complete",
        value: float | None = None,
        rung: str = "full",
        seeds: Iterable[int] = (),
        runs: Iterable[float] | None = None,
        screen_runs: Iterable[float] = (),
        parent_runs: Iterable[float] = (),
    ) -> Trial:
        """Kept, discarded or crashed, for the reason ``why`` (appended to the description)."""
        return replace(
            self,
            status=status,
            description=f"{self.description}; {why}",
            ending=ending,
            value=value,
            rung=rung,
            seeds=tuple(seeds),
            runs=None if runs is None else tuple(runs),
            screen_runs=tuple(screen_runs),
            parent_runs=tuple(parent_runs),
        )

    def record(self) -> Record:
        """The ledger row of this decided trial."""
        if self.status is None:
            raise ValueError(f"experiment {self.id} has no ledger row before it is decided")
        scored = (
            [] if self.status == "crash" else list(self.metrics if self.runs is None else self.runs)
        )
        memory = [o.memory_mb for o in self.outcomes if o.memory_mb is not None]
        cost = [*self.outcomes, *self.overhead]
        cpu = [o.cpu_seconds for o in cost if o.cpu_seconds is not None]
        return Record(
            id=self.id,
            parent=self.parent,
            phase=self.phase,
            status=self.status,
            description=self.description,
            config=self.config,
            changes=self.changes,
            metric=sum(scored) / len(scored) if scored else None,
            runs=scored,
            spread=spread(scored) if len(scored) > 1 else None,
            curve=self.outcomes[0].curve if self.outcomes else [],
            memory_mb=max(memory) if memory else None,
            seconds=sum(o.seconds for o in cost),
            cpu_seconds=sum(cpu) if cpu else None,
            seeds=list(self.seeds)[: len(scored)],
            screen_runs=list(self.screen_runs),
            parent_runs=list(self.parent_runs),
            rung=self.rung,
            proxy_runs=list(self.proxy_runs),
            proxy_parent_runs=list(self.proxy_parent_runs),
        )
