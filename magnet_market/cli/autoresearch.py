"""``magnet autoresearch TASK``: run (or resume) the experiment loop with a live view."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from magnet_market.autoresearch import (
    SPACES,
    TASKS,
    Autoresearch,
    Budget,
    Observer,
    Record,
    SearchSpace,
    Settings,
)
from magnet_market.autoresearch.config import describe, diff
from magnet_market.autoresearch.recipes import (
    DEFAULT_BUDGETS,
    DEFAULT_CONFIRM,
    DEFAULT_SEEDS,
    DEFAULTS,
)
from magnet_market.cli import main

_STATUS_STYLE = {"keep": "bold green", "discard": "dim", "crash": "red"}


class LiveView(Observer):
    """A rich table of the latest experiments, the best so far and the running experiment."""

    def __init__(self, console: Console, metric: str, planned: int, rows: int = 12) -> None:
        self.console, self.metric, self.planned, self.rows = console, metric, planned, rows
        self.records: list[Record] = []
        self.best: Record | None = None
        self.running = ""
        self.live = Live(self.render(), console=console, refresh_per_second=4, transient=True)

    def render(self) -> Group:
        table = Table(title=f"autoresearch — {self.metric}", expand=False)
        for col in ("id", "parent", "phase", "metric", "MiB", "s", "status", "description"):
            table.add_column(col, overflow="fold")
        for r in self.records[-self.rows :]:
            table.add_row(
                str(r.id),
                "" if r.parent is None else str(r.parent),
                r.phase,
                "" if r.metric is None else f"{r.metric:.4f}",
                "" if r.memory_mb is None else f"{r.memory_mb:.0f}",
                f"{r.seconds:.1f}",
                Text(r.status, style=_STATUS_STYLE[r.status]),
                r.description,
            )
        best = "" if self.best is None else f"best #{self.best.id}: {self.best.metric:.4f}   "
        done = f"{len(self.records)}/{self.planned} experiments"
        return Group(table, Text(f"{best}{done}   {self.running}"))

    def experiment_started(self, experiment_id: int, phase: str, description: str) -> None:
        self.running = f"running #{experiment_id} [{phase}] {description}"
        self.live.update(self.render())

    def evaluated(self, k: int, value: float) -> None:
        self.live.update(Group(self.render(), Text(f"  evaluation {k}: {value:.4f}")))

    def recorded(self, record: Record, best: Record) -> None:
        self.records.append(record)
        self.best, self.running = best, ""
        metric = "—" if record.metric is None else f"{record.metric:.4f}"
        self.live.console.print(
            f"#{record.id} [{record.phase}] {metric} ",
            Text(record.status, style=_STATUS_STYLE[record.status]),
            f" {record.description}",
            sep="",
            markup=False,
            highlight=False,
        )
        self.live.update(self.render())


def _config_table(config: dict) -> Table:
    table = Table(show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in config.items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    return table


@main.command("autoresearch")
@click.argument("task", type=click.Choice(sorted(DEFAULTS)))  # the built-in tasks
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder: ledger, studies, best config, plot. Default: ./autoresearch-TASK. "
    "Rerunning with the same settings resumes it.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Training seconds per experiment (default: tinylm 60 s).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Training steps per experiment instead (default: digits 300).",
)
@click.option(
    "--trials-per-phase",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Experiments per phase; raise it to extend a finished run.",
)
@click.option(
    "--proposer",
    default="tpe",
    show_default=True,
    help="tpe (Optuna TPE; median pruning on tinylm), gp (Optuna's Gaussian process, same "
    "pruning), random, chat:URL[#MODEL] (a chat model behind an OpenAI-compatible API such as "
    "Ollama, llama.cpp or vLLM; key from MAGNET_CHAT_API_KEY), or a command that reads the "
    'history as JSON on stdin and prints {"changes": {...}} on stdout.',
)
@click.option(
    "--space",
    "space_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON search space (knobs and phases) instead of the task's.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="First seed (and the samplers'): the baseline runs seeds s, s+1, ...; a candidate runs "
    "the best's seeds (after a confirmed keep, the fresh ones it was confirmed on).",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=2),
    default=None,
    help="Runs of a promising candidate (the baseline runs at least 3); more seeds lower the "
    "keep level. Default: tinylm 2, digits and series 6.",
)
@click.option(
    "--confirm/--no-confirm",
    default=None,
    help="Re-run a candidate that passed, and the best, on fresh seeds before keeping it. "
    "Default: on for digits and series (noise-bound), off for tinylm (a run costs a minute).",
)
@click.option(
    "--proxy",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=None,
    help="Promotion ladder: screen each candidate with a run of this fraction of the budget "
    "first; only one beating the best's same-seed proxy run by more than the proxy noise runs "
    "at the full budget. Default: off.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Torch threads per experiment.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help=(
        "Seconds before a run is killed (default: 3 x the seconds budget + 60; for a step "
        "budget 20 x the slowest kept configuration's run + 60, and an hour for the baseline)."
    ),
)
@click.option(
    "--min-improvement",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Smallest gain worth keeping, whatever the measured noise.",
)
@click.option(
    "--init",
    "init",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Training checkpoint every experiment starts from (e.g. the round's parent); "
    "fixes the model shape.",
)
def autoresearch(
    task: str,
    out: Path | None,
    seconds: float | None,
    steps: int | None,
    trials_per_phase: int,
    proposer: str,
    space_file: Path | None,
    seed: int,
    seeds: int | None,
    confirm: bool | None,
    proxy: float | None,
    threads: int,
    timeout: float | None,
    min_improvement: float,
    init: str | None,
) -> None:
    """Sweep TASK's training configuration with fixed-budget experiments, keeping what helps.

    Phases sweep one group of knobs at a time; a change is kept only when it beats the
    run-to-run noise measured over seeds. Writes results.tsv, best_config.json and
    progress.png to the run folder.
    """
    if seconds is not None and steps is not None:
        raise click.UsageError("give --seconds or --steps, not both")
    budget = (
        DEFAULT_BUDGETS[task]
        if seconds is None and steps is None
        else Budget(seconds=seconds, steps=steps)
    )
    space = SearchSpace.from_file(space_file) if space_file else SPACES[task]
    out = out or Path(f"autoresearch-{task}")
    settings = Settings(
        task,
        budget,
        trials_per_phase=trials_per_phase,
        proposer=proposer,
        seed=seed,
        threads=threads,
        timeout=timeout,
        min_improvement=min_improvement,
        init=init,
        seeds=seeds or DEFAULT_SEEDS[task],
        confirm=DEFAULT_CONFIRM[task] if confirm is None else confirm,
        proxy=proxy,
    )
    loop = Autoresearch(settings, out, space=space)
    console = Console(highlight=False)
    definition = TASKS[task]
    console.print(f"default configuration of {task} (fixed before any sweep):")
    console.print(_config_table(loop.default))
    console.print(
        f"budget {budget.describe()} per experiment, metric {definition.metric} "
        f"({definition.direction}), proposer {proposer}, {len(loop.space.phases)} phases x "
        f"{trials_per_phase}, {settings.seeds} seeds per candidate"
        f"{', confirmed on fresh seeds' if settings.confirm else ''}, folder {out}"
    )
    view = LiveView(console, definition.metric, 1 + len(loop.space.phases) * trials_per_phase)
    loop.observer = view
    with view.live:
        best = loop.run()
    records = loop.ledger.records()
    default = records[0]
    if default.metric is None or best.metric is None:  # kept records are scored
        raise RuntimeError(f"kept experiments {default.id} and {best.id} lack a metric")
    change = 100 * (best.metric - default.metric) / abs(default.metric)
    summary = Table(title="autoresearch result", show_header=False)
    summary.add_row("default", f"{default.metric:.4f}")
    summary.add_row("best", f"{best.metric:.4f} (#{best.id}, {change:+.1f} %)")
    summary.add_row(
        "experiments",
        f"{len(records)} "
        f"({sum(r.status == 'keep' for r in records) - 1} kept, "
        f"{sum(r.status == 'crash' for r in records)} crashed)",
    )
    summary.add_row("changes", describe(diff(loop.default, best.config)))
    for name in ("results.tsv", "best_config.json", "progress.png"):
        summary.add_row(name, str(out / name))
    console.print(summary)
