"""The pinned part of every experiment: task data, metric, budget and scoring.

# ---------------------------------------------------------------------------------------------
# DO NOT CHANGE in an experiment. Experiments change configurations (``recipes.py``, the search
# space), never this file, so every row of a ledger is trained and scored the same way (after
# karpathy/autoresearch ``prepare.py``). A change here starts a new ledger.
# ---------------------------------------------------------------------------------------------
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from magnet_market.autoresearch.config import Config, build
from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.model import build_model
from magnet_market.bitnet.train import TaskData, train
from magnet_market.tasks.digits import DigitsData
from magnet_market.tasks.series import SeriesData
from magnet_market.tasks.series_dataset import SeriesDatasetData
from magnet_market.tasks.tabular import TabularData
from magnet_market.tasks.text import TextData
from magnet_market.tasks.tinylm import TinyLMData

EVALUATIONS = 8  # intermediate evaluations per run, at k/8 of the budget: the pruning points
TINYLM_SEQ_LEN = 128  # context of the tinylm task; part of the data, so not a knob


@dataclass(frozen=True)
class TaskDefinition:
    """A task as autoresearch scores it: its data, the metric key and which way is better.

    ``make_data`` takes the task's data options as keywords (a market task's spec fixes them:
    tinylm's ``seq_len``, digits' ``split_seed``, series' ``holdout``), so a search scores on
    the task's own split.
    """

    name: str
    metric: str
    direction: Literal["minimize", "maximize"]
    make_data: Callable[..., TaskData]


def series_data(dataset_dir: str | None = None, **options: object) -> TaskData:
    """A market series task's dataset, given its verified folder; else the built-in CO2 series
    (``magnet autoresearch series``)."""
    if dataset_dir is not None:
        return SeriesDatasetData(dataset_dir=dataset_dir, **options)  # type: ignore[arg-type]
    return SeriesData(**options)  # type: ignore[arg-type]


TASKS: dict[str, TaskDefinition] = {
    "tinylm": TaskDefinition(
        "tinylm",
        "val_loss",
        "minimize",
        lambda seq_len=TINYLM_SEQ_LEN: TinyLMData(seq_len=seq_len),
    ),
    "digits": TaskDefinition("digits", "balanced_accuracy", "maximize", DigitsData),
    "series": TaskDefinition("series", "hit_rate", "maximize", series_data),
    # a market task's table or text, from its verified dataset folder (option `dataset_dir`)
    "tabular": TaskDefinition("tabular", "balanced_accuracy", "maximize", TabularData),
    "text": TaskDefinition("text", "val_loss", "minimize", TextData),
}


def task_definition(name: str) -> TaskDefinition:
    """The registered task ``name`` (``ValueError`` listing the known ones)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}")
    return TASKS[name]


@dataclass(frozen=True)
class Budget:
    """What every experiment of a run gets: wall-clock seconds of training, or steps."""

    seconds: float | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.steps is None):
            raise ValueError("set exactly one of seconds and steps")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    def describe(self) -> str:
        return f"{self.seconds:g} s" if self.seconds is not None else f"{self.steps} steps"

    def scaled(self, fraction: float) -> Budget:
        """``fraction`` of this budget (at least one step): a proxy run's."""
        if self.seconds is not None:
            return Budget(seconds=self.seconds * fraction)
        return Budget(steps=max(1, round((self.steps or 1) * fraction)))


def _data(task: str, options: Mapping[str, object]) -> TaskData:
    return _cached_data(task, tuple(sorted(options.items())))


@functools.cache
def _cached_data(task: str, options: tuple[tuple[str, object], ...]) -> TaskData:
    try:
        return task_definition(task).make_data(**dict(options))
    except TypeError as exc:
        raise ValueError(f"bad data options {dict(options)} for task {task!r}: {exc}") from None


class _EvaluationProbe:
    """Task data that also evaluates the model at k/EVALUATIONS of the budget.

    The engine's ``eval_every`` counts steps, which a wall-clock budget cannot know in advance;
    ``train`` draws one batch per step, so the batch call is where progress is measured. The
    evaluation time is charged to the budget alike for every experiment.
    """

    def __init__(
        self,
        data: TaskData,
        model: nn.Module,
        metric: str,
        budget: Budget,
        report: Callable[[int, float], None],
    ) -> None:
        self.data, self.model, self.metric = data, model, metric
        self.budget, self.report = budget, report
        self.step = 0
        self.done = 0
        self.t0 = time.perf_counter()

    def _progress(self) -> float:
        if self.budget.steps is not None:
            return self.step / self.budget.steps
        if self.budget.seconds is None:  # Budget sets exactly one of them
            raise ValueError("the budget has neither steps nor seconds")
        return (time.perf_counter() - self.t0) / self.budget.seconds

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "train":
            due = self.done + 1 < EVALUATIONS and self._progress() >= (self.done + 1) / EVALUATIONS
            if due:
                self.done += 1
                self.report(self.done, self.data.evaluate(self.model)[self.metric])
            self.step += 1
        return self.data.get_batch(split, batch_size, generator)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.data.evaluate(model)

    def __getattr__(self, name: str) -> object:
        # the task's optional parts (``augment``) are the probe's too, or missing alike
        return getattr(self.data, name)


@dataclass(frozen=True, kw_only=True)
class ExperimentResult:
    """The scored outcome of one training run."""

    metric: float
    steps: int
    seconds: float


def run_experiment(
    task: str,
    config: Config,
    budget: Budget,
    seed: int,
    report: Callable[[int, float], None] | None = None,
    init: str | None = None,
    data: Mapping[str, object] | None = None,
) -> ExperimentResult:
    """Train ``config`` (init and batches seeded by ``seed``) and score it.

    Args:
        task: a name in :data:`TASKS`.
        config: a flat configuration (``config.py``).
        budget: training seconds or steps.
        seed: seeds the initial weights and the batch order.
        report: called as ``report(k, metric)`` at the k-th intermediate evaluation (k < 8);
            it may raise to stop the run (pruning).
        init: a ``train`` checkpoint to start from instead of random weights (its model config
            must equal the configuration's).
        data: the task's data options (see :class:`TaskDefinition`); default its own.

    Raises:
        ValueError: the configuration is invalid.
        TrainingDivergedError: the loss became NaN or exploded.
        FloatingPointError: the final metric is not finite.
    """
    definition = task_definition(task)
    model_cfg, train_cfg = build(config, steps=budget.steps, seconds=budget.seconds, seed=seed)
    torch.manual_seed(seed)
    model = build_model(model_cfg)
    if init is not None:
        start = checkpoint.load(init)
        if start.kind != "train" or start.config != model_cfg:
            raise ValueError(
                f"{init} is a {start.kind} checkpoint of {start.config}; the experiment needs "
                f"a train checkpoint of {model_cfg}"
            )
        checkpoint.load_into(model, start)
    probe = _EvaluationProbe(
        _data(task, data or {}), model, definition.metric, budget, report or (lambda k, v: None)
    )
    result = train(model, probe, train_cfg)
    metric = result.metrics[definition.metric]
    if not math.isfinite(metric):
        raise FloatingPointError(f"{definition.metric} is {metric}")
    return ExperimentResult(metric=metric, steps=result.step, seconds=result.seconds)
