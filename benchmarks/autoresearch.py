"""Autoresearch figures: what a sweep gains over the fixed default configuration.

Usage:
    python benchmarks/autoresearch.py                 # table
    python benchmarks/autoresearch.py --json          # one JSON object on stdout
    python benchmarks/autoresearch.py --tinylm-seconds 60 --tinylm-trials 5   # the full sweep

Keys: tinylm_loss_drop_pct (validation loss, default -> best of a 10-phase sweep, in % of the
default), digits_bal_acc_default, digits_bal_acc_best (balanced accuracy, mean over the seed
runs: 3 for the default, 2 for a kept change), tpe_vs_random_wins (seeds out of 3 where TPE +
median pruning ends with a better best than random search given the same number of trials per
phase). ``budgets`` and ``seeds`` state what was run. Every run folder (ledger, plot) is kept
under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from magnet_market.autoresearch import Autoresearch, Budget, Record, Settings


def sweep(out: Path, task: str, budget: Budget, trials: int, proposer: str, seed: int) -> tuple:
    """Run one sweep; returns (default record, best record, experiments, seconds)."""
    t0 = time.perf_counter()
    loop = Autoresearch(Settings(task, budget, trials, proposer, seed), out)
    best = loop.run()
    records: list[Record] = loop.ledger.records()
    return records[0], best, len(records), time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", type=Path, default=None, help="folder for the run folders")
    p.add_argument("--digits-steps", type=int, default=300)
    p.add_argument("--digits-trials", type=int, default=5, help="trials per phase")
    p.add_argument("--race-trials", type=int, default=5, help="trials per phase, TPE vs random")
    p.add_argument("--tinylm-seconds", type=float, default=60.0)
    p.add_argument(
        "--tinylm-steps", type=int, default=None, help="a step budget instead of --tinylm-seconds"
    )
    p.add_argument("--tinylm-trials", type=int, default=5, help="trials per phase")
    p.add_argument("--parts", default="digits,race,tinylm", help="comma-separated subset to run")
    args = p.parse_args()
    parts = set(args.parts.split(","))
    out = args.out or Path(tempfile.mkdtemp(prefix="magnet-autoresearch-bench-"))
    log = Console(stderr=True)
    digits = Budget(steps=args.digits_steps)
    result: dict = {}
    budgets: dict = {}

    if "digits" in parts:
        default, best, n, secs = sweep(
            out / "digits", "digits", digits, args.digits_trials, "tpe", 0
        )
        log.print(
            f"digits: {default.metric:.4f} -> {best.metric:.4f} ({n} experiments, {secs:.0f} s)"
        )
        result |= {
            "digits_bal_acc_default": round(default.metric, 4),
            "digits_bal_acc_best": round(best.metric, 4),
            "digits_experiments": n,
        }
        budgets["digits"] = f"{digits.describe()} per experiment, {args.digits_trials} trials/phase"

    if "race" in parts:
        wins, race = 0, []
        for seed in (0, 1, 2):
            tpe = sweep(out / f"race-tpe-{seed}", "digits", digits, args.race_trials, "tpe", seed)
            rnd = sweep(
                out / f"race-random-{seed}", "digits", digits, args.race_trials, "random", seed
            )
            wins += tpe[1].metric > rnd[1].metric
            race.append(
                {"seed": seed, "tpe": round(tpe[1].metric, 4), "random": round(rnd[1].metric, 4)}
            )
            log.print(f"race seed {seed}: tpe {tpe[1].metric:.4f} vs random {rnd[1].metric:.4f}")
        result |= {"tpe_vs_random_wins": wins, "race": race}
        budgets["race"] = f"{digits.describe()} per experiment, {args.race_trials} trials/phase"

    if "tinylm" in parts:
        tinylm = (
            Budget(steps=args.tinylm_steps)
            if args.tinylm_steps
            else Budget(seconds=args.tinylm_seconds)
        )
        default, best, n, secs = sweep(
            out / "tinylm", "tinylm", tinylm, args.tinylm_trials, "tpe", 0
        )
        log.print(
            f"tinylm: {default.metric:.4f} -> {best.metric:.4f} ({n} experiments, {secs:.0f} s)"
        )
        result |= {
            "tinylm_loss_drop_pct": round(100 * (default.metric - best.metric) / default.metric, 2),
            "tinylm_val_loss_default": round(default.metric, 4),
            "tinylm_val_loss_best": round(best.metric, 4),
            "tinylm_experiments": n,
            "tinylm_wall_minutes": round(secs / 60, 1),  # = CPU minutes on an idle machine
        }
        budgets["tinylm"] = f"{tinylm.describe()} per experiment, {args.tinylm_trials} trials/phase"

    result |= {
        "budgets": budgets,
        "phases": 10,
        "seeds": "sampler seed 0 (race: 0, 1, 2); experiments run seed s, re-runs seed s + 1",
        "threads": 1,
        "out": str(out),
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    table = Table(title="autoresearch figures")
    table.add_column("figure")
    table.add_column("value")
    for key, value in result.items():
        table.add_row(key, json.dumps(value) if isinstance(value, list | dict) else str(value))
    Console().print(table)


if __name__ == "__main__":  # required: experiments fork from a server that imports this file
    main()
