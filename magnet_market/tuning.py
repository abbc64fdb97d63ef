"""The contributor's autoresearch before a round's inner steps: tune the recipe on the parent.

Every experiment starts from the round's parent checkpoint and is scored on the task's own
validation split (the one the coordinator judges with), so what is kept is what helps this
round. The keep rule is the task's own (``recipes.DEFAULT_SEEDS``, ``DEFAULT_CONFIRM``): a
round's experiments are short, so their seed-to-seed spread is wide and a lucky candidate is
easy to keep. The search folder is the run's state: a contributor restarted mid-search resumes
it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from magnet_market.autoresearch import (
    Autoresearch,
    Budget,
    Ledger,
    RunMismatchError,
    SearchSpace,
    Settings,
)
from magnet_market.autoresearch.config import Config, build, diff
from magnet_market.autoresearch.recipes import DEFAULT_CONFIRM, DEFAULT_SEEDS
from magnet_market.autoresearch.shared import SharedLedger
from magnet_market.autoresearch.space import show
from magnet_market.bitnet.train import TrainConfig
from magnet_market.tasks.data import data_options
from magnet_market.tasks.spec import TaskSpec


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """The settings a round's inner steps train with, and how the search found them."""

    config: Config  # the flat training configuration (``autoresearch.config``)
    experiments: int = 0
    default_metric: float | None = None
    best_metric: float | None = None
    changes: Config | None = None  # from the configuration the search started from
    set_aside: Path | None = None  # an earlier version's search of this round, moved here
    ledger: Path | None = None  # the search's ``experiments.jsonl`` (None: nothing searched)

    def summary(self) -> dict[str, object]:
        """What the checkpoint's metadata records about the search: the coordinator's report
        lists its ``recipe`` (``diloco.published``), and the contributor adds its ledger's CID."""
        return {
            "experiments": self.experiments,
            "default_metric": self.default_metric,
            "best_metric": self.best_metric,
            "changes": self.changes or {},
            "recipe": self.config,
        }

    def train_config(self, steps: int, seed: int) -> TrainConfig:
        """The engine's settings for ``steps`` inner steps with this recipe."""
        return build(self.config, steps=steps, seconds=None, seed=seed)[1]


def plan(spec: TaskSpec, offset: int = 0) -> SearchSpace:
    """The phases that share the spec's trials, each with its share, starting at phase
    ``offset`` (a contributor's place in the swarm, :func:`swarm_offset`) and wrapping around.

    With fewer trials than phases, the first phases get one each (the spaces order phases by
    expected payoff: learning rate first); otherwise every phase gets an equal share and the
    first phases one more each, so the search runs exactly ``trials`` experiments.
    """
    space = spec.search_space()
    trials = spec.search.trials
    start = offset % len(space.phases)
    order = space.phases[start:] + space.phases[:start]
    share, extra = divmod(trials, len(order))
    phases = [
        phase.model_copy(update={"trials": share + (i < extra)})
        for i, phase in enumerate(order)
        if share + (i < extra)
    ]
    return space.model_copy(update={"phases": phases})  # still a valid space


def swarm_offset(spec: TaskSpec, place: int) -> int:
    """The first phase of the contributor at ``place`` (0, 1, ... in join order): with fewer
    trials than phases, each place takes the next ``trials`` phases, so the first contributors
    between them cover the whole space instead of all sweeping the learning rate; with more,
    each starts one phase further on."""
    phases, trials = len(spec.search_space().phases), spec.search.trials
    return (place * trials if 0 < trials < phases else place) % phases


def search_budget(spec: TaskSpec) -> Budget:
    """What each experiment trains: the round's inner steps unless the spec sets seconds."""
    if spec.search.budget_seconds is not None:
        return Budget(seconds=spec.search.budget_seconds)
    return Budget(steps=spec.inner_steps)


def tune(
    spec: TaskSpec,
    parent: Path,
    out_dir: Path,
    seed: int,
    threads: int = 1,
    dataset_dir: Path | None = None,
    start: Config | None = None,
    shared: Sequence[SharedLedger] = (),
    offset: int = 0,
) -> Recipe:
    """Run the spec's search from ``parent`` (a train checkpoint) and return the best recipe.
    A dataset task searches on its verified dataset folder ``dataset_dir``. The search starts
    from ``start`` (the recipe carried over from the previous round, see :func:`carried_recipe`),
    else from the spec's default recipe, at phase ``offset`` (:func:`swarm_offset`), with the
    other contributors' ``shared`` experiments as its samplers' priors.

    ``seed`` seeds the baseline (seeds s, s+1, ...) and the proposer; ``out_dir`` holds the
    ledger, so calling again with the same arguments resumes or returns the finished result.
    A search there that this version would not run the same way (another budget or keep rule:
    the contributor was upgraded mid-round) is moved aside, kept, and the search starts over.
    """
    default = spec.default_recipe() if start is None else start
    if not spec.search.trials:
        return Recipe(config=default)
    settings = Settings(
        task=spec.kind,
        budget=search_budget(spec),
        trials_per_phase=1,  # each phase of the plan sets its own
        seed=seed % 2**31,
        threads=threads,
        init=str(parent),
        data=data_options(spec, dataset_dir),
        seeds=DEFAULT_SEEDS[spec.kind],
        confirm=DEFAULT_CONFIRM[spec.kind],
        proxy=spec.search.proxy,
    )
    loop = Autoresearch(settings, out_dir, space=plan(spec, offset), default=default, shared=shared)
    set_aside = None
    try:
        best = loop.run()
    except RunMismatchError:  # refused before anything ran: the same loop starts over
        set_aside = _set_aside(out_dir)
        best = loop.run()
    records = Ledger(out_dir).records()
    return Recipe(
        config=best.config,
        experiments=len(records) - 1,
        default_metric=records[0].metric,
        best_metric=best.metric,
        changes=diff(default, best.config),
        set_aside=set_aside,
        ledger=loop.ledger.jsonl,
    )


def carried_recipe(spec: TaskSpec, published: Mapping[str, object]) -> Config:
    """The previous round's winning recipe (as a round report lists it) as this round's start.

    It came from a stranger's checkpoint, so it must be one this task's search could have kept:
    the spec's own keys, the task's model shape, every setting at the spec's value or, for a
    knob, inside the search space, and buildable. ``ValueError`` says what is wrong otherwise
    (the caller starts from the spec's default instead).
    """
    default = spec.default_recipe()
    if set(published) != set(default):
        odd = sorted(set(published) ^ set(default))[:5]
        raise ValueError(f"its keys are not this task's (differ in {odd})")
    knobs = spec.search_space().knobs
    for key, value in published.items():
        if value == default[key] and type(value) is type(default[key]):
            continue  # the spec's own setting, inside the search space or not
        if key in knobs and not key.startswith("model."):
            if reason := knobs[key].reject_reason(value):
                raise ValueError(f"{key}: {reason}")
        elif value != default[key] or type(value) is not type(default[key]):
            raise ValueError(f"{key} is {show(value)}, the task fixes {default[key]!r}")
    config: Config = dict(published)  # type: ignore[arg-type]  # checked scalar by scalar above
    try:
        build(config, steps=spec.inner_steps, seconds=None, seed=0)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"it does not build: {exc}") from None
    return config


def _set_aside(folder: Path) -> Path:
    """Rename ``folder`` to the first free ``<name>.old-N`` beside it; returns the new path."""
    n = 1
    while (target := folder.with_name(f"{folder.name}.old-{n}")).exists():
        n += 1
    return folder.rename(target)
