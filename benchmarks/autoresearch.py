"""Autoresearch figures: what a sweep gains over the fixed default configuration.

Usage:
    python benchmarks/autoresearch.py                 # table
    python benchmarks/autoresearch.py --json          # one JSON object on stdout
    python benchmarks/autoresearch.py --parts tinylm --out DIR   # one part (parts can run
                                                      # side by side on one DIR); the same
                                                      # line again resumes it
    python benchmarks/autoresearch.py --json --collect --out DIR    # figures of DIR's runs

Keys: tinylm_loss_drop_pct (validation loss, default -> the best a 10-phase sweep has kept
within --tinylm-cpu-minutes of experiment CPU time, in % of the default),
digits_bal_acc_default, digits_bal_acc_best (balanced accuracy on the validation split the sweep
scored on, mean over the seed runs), tpe_vs_random_wins (race seeds, of 3, where TPE, the default
proposer, ends with a better best than random search given the same number of trials per
phase; both bests retrained on the same held-out seeds; tpe_vs_random_ties counts the seeds
where they score the same), series_hit_rate_default,
series_hit_rate_best (share of correct up/down calls on the series' test part, the latest
weeks, which no sweep saw; mean over seeds).

Checks against selection on noise: the digits configurations again on three other splits, and
the series' validation figures next to its test figures. ``budgets``, ``seeds`` and the default
configurations (fixed in ``recipes.py`` before any sweep) state what was run; every run folder
(ledger, plot) is kept under ``--out``. Budgets count steps, so the figures do not depend on
the machine's load (the wall-clock minutes do; the CPU minutes hardly).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from magnet_market.autoresearch import (
    Autoresearch,
    Budget,
    Config,
    Ledger,
    Record,
    Settings,
    best_of,
)
from magnet_market.autoresearch.config import describe
from magnet_market.autoresearch.evaluate import run_experiment
from magnet_market.autoresearch.recipes import DEFAULT_CONFIRM, DEFAULT_SEEDS, DEFAULTS, SPACES

HELD_OUT_SEEDS = range(100, 106)  # seeds no sweep used: default and best retrained on held-out data


@dataclass(frozen=True)
class Sweep:
    """What a benchmark reports of one sweep: its ledger, read once.

    The minutes add up the experiments' runs (one torch thread each), so a resumed or collected
    sweep reports what it cost when it ran.
    """

    records: list[Record]

    @property
    def default(self) -> Record:
        return self.records[0]

    @property
    def best(self) -> Record:
        return best_of(self.records)

    @property
    def kept(self) -> list[str]:
        """The kept changes, in order."""
        return [describe(r.changes) for r in self.records if r.status == "keep" and r.id]

    @property
    def cpu_minutes(self) -> float:
        """The experiment processes' CPU time: what the sweep costs."""
        return sum(r.cpu_seconds or 0.0 for r in self.records) / 60

    @property
    def wall_minutes(self) -> float:
        """Their wall-clock: the CPU time plus waiting for a loaded machine."""
        return sum(r.seconds for r in self.records) / 60


def sweep(
    out: Path,
    task: str,
    budget: Budget,
    trials: int,
    proposer: str,
    seed: int,
    collect: bool,
    proxy: float | None = None,
) -> Sweep:
    """Run (or resume) one sweep, or with ``collect`` only read its folder."""
    if not collect:
        settings = Settings(
            task,
            budget,
            trials_per_phase=trials,
            proposer=proposer,
            seed=seed,
            seeds=DEFAULT_SEEDS[task],
            confirm=DEFAULT_CONFIRM[task],
            proxy=proxy,
        )
        Autoresearch(settings, out).run()
    return Sweep(Ledger(out).records())


def proxy_figures(prefix: str, records: list[Record]) -> dict:
    """The ladder's figures: candidates stopped at the proxy, promoted, and the share of the
    promoted (proxy wins) that held at the full budget (were kept)."""
    promoted = [r for r in records if r.proxy_runs and r.rung == "full"]
    held = [r for r in promoted if r.status == "keep"]
    return {
        f"{prefix}_proxy_discards": sum(r.rung == "proxy" for r in records),
        f"{prefix}_proxy_promoted": len(promoted),
        f"{prefix}_proxy_transfer_rate": round(len(held) / len(promoted), 3) if promoted else None,
    }


def within_cpu(records: list[Record], minutes: float) -> tuple[Record, int, float]:
    """The running best of a sweep stopped at ``minutes`` of CPU time (experiments in order):
    what a contributor with that budget gets. Returns (best, experiments, CPU minutes used)."""
    used, kept = 0.0, []
    for r in records:
        cost = (r.cpu_seconds or 0.0) / 60
        if kept and used + cost > minutes:
            break
        used += cost
        kept.append(r)
    return best_of(kept), len(kept), used


def _drop(default: Record, best: Record) -> float:
    """Validation loss drop from the default, in % of the default."""
    return 100 * (default.metric - best.metric) / default.metric


def held_out(task: str, config: Config, budget: Budget, data: list[dict]) -> float:
    """Mean metric of ``config`` retrained with fresh seeds on each of the ``data`` options."""
    runs = [
        run_experiment(task, config, budget, seed, data=options).metric
        for options in data
        for seed in HELD_OUT_SEEDS
    ]
    return sum(runs) / len(runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", type=Path, default=None, help="folder for the run folders")
    p.add_argument("--digits-steps", type=int, default=300)
    p.add_argument("--digits-trials", type=int, default=5, help="trials per phase")
    p.add_argument("--race-trials", type=int, default=5, help="trials per phase, TPE vs random")
    p.add_argument(
        "--race-seeds",
        default="0,1,2",
        help="sampler seeds of the races (run subsets side by side, then --collect all)",
    )
    p.add_argument("--series-steps", type=int, default=300)
    p.add_argument("--series-trials", type=int, default=5, help="trials per phase")
    p.add_argument("--tinylm-steps", type=int, default=120)
    p.add_argument("--tinylm-trials", type=int, default=5, help="trials per phase")
    p.add_argument(
        "--tinylm-cpu-minutes", type=float, default=60.0, help="report the best within this"
    )
    p.add_argument(
        "--tinylm-proxy",
        type=float,
        default=0.25,
        help="the promotion ladder's proxy fraction of the budget (0: no ladder)",
    )
    p.add_argument(
        "--parts", default="digits,race,series,series-race,tinylm", help="comma-separated subset"
    )
    p.add_argument(
        "--collect", action="store_true", help="read the run folders under --out, run nothing"
    )
    args = p.parse_args()
    torch.set_num_threads(1)  # the held-out runs, like the experiments
    parts = set(args.parts.split(","))
    race_seeds = [int(s) for s in args.race_seeds.split(",")]
    out = args.out or Path(tempfile.mkdtemp(prefix="magnet-autoresearch-bench-"))
    log = Console(stderr=True)
    t0 = time.perf_counter()
    digits = Budget(steps=args.digits_steps)
    result: dict = {}
    budgets: dict = {}

    def run(name: str, task: str, budget: Budget, trials: int, proposer: str, seed: int):
        return sweep(out / name, task, budget, trials, proposer, seed, args.collect)

    def costs(prefix: str, sw: Sweep) -> dict:
        return {
            f"{prefix}_experiments": len(sw.records),
            f"{prefix}_kept": sw.kept,
            f"{prefix}_cpu_minutes": round(sw.cpu_minutes, 1),
            f"{prefix}_wall_minutes": round(sw.wall_minutes, 1),
        }

    if "digits" in parts:
        sw = run("digits", "digits", digits, args.digits_trials, "tpe", 0)
        splits = [{"split_seed": s} for s in (1, 2, 3)]
        result |= {
            "digits_bal_acc_default": round(sw.default.metric, 4),
            "digits_bal_acc_best": round(sw.best.metric, 4),
            "digits_other_splits_default": round(
                held_out("digits", sw.default.config, digits, splits), 4
            ),
            "digits_other_splits_best": round(
                held_out("digits", sw.best.config, digits, splits), 4
            ),
            **costs("digits", sw),
        }
        log.print(f"digits: {sw.default.metric:.4f} -> {sw.best.metric:.4f}")
        budgets["digits"] = f"{digits.describe()} per experiment, {args.digits_trials} trials/phase"

    def race(task: str, budget: Budget, sweep_trials: int) -> tuple[int, int, list[dict]]:
        """TPE against random search on ``task``, the race seeds (0, 1, 2), same trials.

        The final metric of each side is its best configuration retrained on the held-out
        seeds (the validation split the sweeps scored on): each sweep scored its best on the
        seeds it happened to reach, so their own figures differ by those seeds' luck too (the
        same configuration scored 0.9911 on one set and 0.9944 on another). The sweeps' own
        figures are in the rows as well. Returns TPE's wins, the ties and the rows.
        """
        wins, ties, rows = 0, 0, []
        for seed in race_seeds:
            # seed 0 of TPE is the task's own sweep when the trials match (it resumes)
            same = seed == 0 and args.race_trials == sweep_trials
            name = task if same else f"race-{task}-tpe-{seed}"
            tpe = run(name, task, budget, args.race_trials, "tpe", seed)
            rnd = run(f"race-{task}-random-{seed}", task, budget, args.race_trials, "random", seed)
            final = {"tpe": held_out(task, tpe.best.config, budget, [{}])}
            final["random"] = (
                final["tpe"]  # both kept the same changes: the same runs
                if rnd.best.config == tpe.best.config
                else held_out(task, rnd.best.config, budget, [{}])
            )
            wins += final["tpe"] > final["random"]
            ties += final["tpe"] == final["random"]
            rows.append(
                {
                    "seed": seed,
                    **{side: round(value, 4) for side, value in final.items()},
                    "tpe_sweep": round(tpe.best.metric, 4),
                    "random_sweep": round(rnd.best.metric, 4),
                }
            )
            log.print(f"{task} race, seed {seed}: {rows[-1]}")
        return wins, ties, rows

    if "race" in parts:
        wins, ties, rows = race("digits", digits, args.digits_trials)
        result |= {
            "tpe_vs_random_wins": wins,
            "tpe_vs_random_ties": ties,
            "race": rows,
            **_medians("race", rows),
        }
        budgets["race"] = (
            f"digits, {digits.describe()} per experiment, {args.race_trials} trials/phase"
        )

    if "series" in parts:
        series = Budget(steps=args.series_steps)
        sw = run("series", "series", series, args.series_trials, "tpe", 0)
        test = [{"holdout": "test"}]
        result |= {
            "series_hit_rate_default": round(
                held_out("series", sw.default.config, series, test), 4
            ),
            "series_hit_rate_best": round(held_out("series", sw.best.config, series, test), 4),
            "series_val_hit_rate_default": round(sw.default.metric, 4),
            "series_val_hit_rate_best": round(sw.best.metric, 4),
            **costs("series", sw),
        }
        log.print(f"series (validation): {sw.default.metric:.4f} -> {sw.best.metric:.4f}")
        budgets["series"] = f"{series.describe()} per experiment, {args.series_trials} trials/phase"

    if "series-race" in parts:
        series = Budget(steps=args.series_steps)
        wins, ties, rows = race("series", series, args.series_trials)
        result |= {
            "series_tpe_vs_random_wins": wins,
            "series_tpe_vs_random_ties": ties,
            "series_race": rows,
            **_medians("series_race", rows),
        }
        budgets["series-race"] = (
            f"series, {series.describe()} per experiment, {args.race_trials} trials/phase"
        )

    if "tinylm" in parts:
        tinylm = Budget(steps=args.tinylm_steps)
        proxy = args.tinylm_proxy or None
        sw = sweep(
            out / "tinylm", "tinylm", tinylm, args.tinylm_trials, "tpe", 0, args.collect, proxy
        )
        best, n, cpu = within_cpu(sw.records, args.tinylm_cpu_minutes)
        last_phase = SPACES["tinylm"].phases[-1].name
        result |= {
            "tinylm_loss_drop_pct": round(_drop(sw.default, best), 2),
            "tinylm_val_loss_default": round(sw.default.metric, 4),
            "tinylm_val_loss_best": round(best.metric, 4),
            "tinylm_experiments_within_cpu_budget": n,
            "tinylm_cpu_minutes_within_cpu_budget": round(cpu, 1),
            "tinylm_loss_drop_pct_all": round(_drop(sw.default, sw.best), 2),
            "tinylm_sweep_finished": sum(r.phase == last_phase for r in sw.records)
            >= args.tinylm_trials,
            "tinylm_proxy": proxy,
            **proxy_figures("tinylm", sw.records),
            **costs("tinylm", sw),
        }
        log.print(f"tinylm: {sw.default.metric:.4f} -> {best.metric:.4f}")
        budgets["tinylm"] = (
            f"{tinylm.describe()} per experiment, {args.tinylm_trials} trials/phase, "
            f"proxy {proxy or 'off'}, "
            f"best within {args.tinylm_cpu_minutes:g} CPU-minutes"
        )

    result |= {
        "budgets": budgets,
        "phases": 10,
        "seeds": (
            f"sampler seed 0 (race: {', '.join(map(str, race_seeds))}); baseline runs seeds "
            "s..s+n-1 (n = max(3, seeds)), promising candidates n runs; seeds per task "
            f"{DEFAULT_SEEDS}; keeps confirmed on the next n seeds {DEFAULT_CONFIRM}; held-out "
            f"runs seeds {HELD_OUT_SEEDS.start}-{HELD_OUT_SEEDS.stop - 1}"
        ),
        "threads": 1,
        "default_configs": {t: DEFAULTS[t] for t in sorted(budgets) if t in DEFAULTS},
        "wall_minutes": round((time.perf_counter() - t0) / 60, 1),
        "out": str(out),
    }
    if args.json:
        print(json.dumps(result))
    table = Table(title="autoresearch figures")
    table.add_column("figure")
    table.add_column("value")
    for key, value in result.items():
        if key == "default_configs":  # one row per task, as a diff-style line
            for task, config in value.items():
                table.add_row(f"default {task}", describe(config))
        else:
            table.add_row(key, json.dumps(value) if isinstance(value, list | dict) else str(value))
    Console(stderr=args.json).print(table)


def _medians(prefix: str, rows: list[dict]) -> dict:
    """Each proposer's median final metric over the race's seeds."""
    return {
        f"{prefix}_{p}_median": statistics.median(r[p] for r in rows) for p in ("tpe", "random")
    }


if __name__ == "__main__":  # required: experiments fork from a server that imports this file
    main()
