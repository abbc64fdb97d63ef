"""What moves DiLoCo's gap to synchronous training from random weights, measured on tinylm.

Usage:
    python benchmarks/from_scratch.py            # about 25 CPU-minutes, 2 jobs; key: value block
    python benchmarks/from_scratch.py --json     # one JSON object on stdout (progress on stderr)
    python benchmarks/from_scratch.py --quick    # small sizes, a smoke run
    python benchmarks/from_scratch.py --rows base,h20   # these rows and the synchronous ones

Every row trains the DiLoCo benchmark's model (``benchmarks/diloco.py``: tinylm d=128, 2 layers)
from the same random weights. A ``sync_*`` row is synchronous data-parallel training (one model,
a K x 8 batch; ``sync_one_worker`` is one worker's batch of 8 alone); every other row is K=4
workers as contributors run them (each keeps its own AdamW moments, the schedule restarts each
round) behind the merge guard. A row changes one thing from ``base`` (constant inner lr 1.5e-3,
H=50, R=10, DiLoCo's outer Nesterov step): the inner lr, the recipe's schedule, H (with R so
that R x H stays 500 steps; ``h20_lr1e-3`` with the lower lr too), the outer step (its lr, or
plain SGD), a synchronous start (``sync_first_N``: the
synchronous run's own first N steps, then rounds for the rest of the 500, as post-local SGD
does; ``sync_first_200_recipe`` is the market benchmark's case in small: the recipe's schedule
both for the start and in every round), or R (more steps, then against synchronous training of
the same length), or the same global batch of 32 in fewer, larger workers (``k2_b16``: two
workers of batch 16; ``k1_b32``: one worker of 32, so only the outer step differs from ``sync``),
or each of the K workers with twice the batch (``b16``, against ``sync_b16``: synchronous
training at their global batch of 64).

Keys: ``gap_pct_<row>`` (validation loss over the best synchronous row of the same length, %,
or over the row it names),
``val_loss_<row>``, ``merge_steps_<row>`` and the sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`
from diloco import (  # sibling benchmark
    INNER,
    QUICK,
    SEED,
    Sizes,
    baseline,
    diloco,
    initial_checkpoint,
    pretrained_checkpoint,
)

from magnet_market.bitnet.train import OptimConfig
from magnet_market.diloco.outer import OuterConfig
from magnet_market.tasks import TinyLMData

CONSTANT = dataclasses.replace(INNER, lr=1.5e-3)  # the DiLoCo benchmark's constant lr, halved
RECIPE = OptimConfig()  # the engine's BitNet recipe, peak lr 3e-3


@dataclass(frozen=True)
class Row:
    """One run: synchronous (``sync``) or DiLoCo, with its inner optimizer, sizes and outer step."""

    sync: bool
    optim: OptimConfig = CONSTANT
    inner_steps: int = 50  # H (a synchronous row trains R x H steps)
    rounds: int = 10  # R
    workers: int = 4  # K
    inner_batch: int = 8  # B per worker (a synchronous row's batch is K x B)
    sync_first: int = 0  # synchronous steps before the rounds (the synchronous run's own batches)
    against: str = ""  # the synchronous row measured against; "": the best of the batch-32 ones
    outer: OuterConfig = field(default_factory=OuterConfig)


def lr(value: float) -> OptimConfig:
    """The constant inner optimizer at another lr."""
    return dataclasses.replace(INNER, lr=value)


ROWS = {
    "sync": Row(sync=True),
    "sync_lr3e-3": Row(sync=True, optim=lr(3e-3)),
    "sync_lr1e-3": Row(sync=True, optim=lr(1e-3)),
    "sync_recipe": Row(sync=True, optim=RECIPE),
    "sync_one_worker": Row(sync=True, workers=1),
    "base": Row(sync=False),
    "lr3e-3": Row(sync=False, optim=lr(3e-3)),
    "lr1e-3": Row(sync=False, optim=lr(1e-3)),
    "recipe": Row(sync=False, optim=RECIPE),
    "h20": Row(sync=False, inner_steps=20, rounds=25),
    "h10": Row(sync=False, inner_steps=10, rounds=50),
    "outer_sgd_lr2": Row(sync=False, outer=OuterConfig(lr=2.0, momentum=0.0, nesterov=False)),
    "outer_lr0.5": Row(sync=False, outer=OuterConfig(lr=0.5)),
    "outer_lr1": Row(sync=False, outer=OuterConfig(lr=1.0)),
    "h20_lr1e-3": Row(sync=False, optim=lr(1e-3), inner_steps=20, rounds=25),
    "sync_first_100": Row(sync=False, sync_first=100, rounds=8),
    "sync_first_200": Row(sync=False, sync_first=200, rounds=6),
    # the market's case in small: a start annealed by the recipe, then the recipe every round
    "sync_first_200_recipe": Row(sync=False, optim=RECIPE, sync_first=200, rounds=6),
    # the same global batch of 32 split among fewer workers: what the averaging of K costs
    "k2_b16": Row(sync=False, workers=2, inner_batch=16),
    "k1_b32": Row(sync=False, workers=1, inner_batch=32),
    # four workers of twice the batch, against synchronous training at their global batch of 64
    "sync_b16": Row(sync=True, inner_batch=16, against="sync_b16"),
    "b16": Row(sync=False, inner_batch=16, against="sync_b16"),
    "sync_r20": Row(sync=True, rounds=20),
    "r20": Row(sync=False, rounds=20),
}
QUICK_ROWS = {
    "sync": Row(sync=True, inner_steps=QUICK.inner_steps, rounds=QUICK.rounds),
    "base": Row(sync=False, inner_steps=QUICK.inner_steps, rounds=QUICK.rounds),
    "h5": Row(sync=False, inner_steps=QUICK.inner_steps // 2, rounds=QUICK.rounds * 2),
    "sync_first_10": Row(
        sync=False, sync_first=QUICK.inner_steps, inner_steps=QUICK.inner_steps, rounds=2
    ),
}


def run_row(name: str, row: Row, model_sizes: Sizes) -> dict:
    """Train one row in this process (one thread) and return its figures."""
    torch.set_num_threads(1)
    s = dataclasses.replace(
        model_sizes,
        workers=row.workers,
        inner_batch=row.inner_batch,
        inner_steps=row.inner_steps,
        rounds=row.rounds,
    )
    data = TinyLMData(seq_len=s.model.seq_len, max_train_bytes=2 << 20, max_val_bytes=256 << 10)
    log = functools.partial(print, f"{name}:", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        init = initial_checkpoint(s.model, work / "init.safetensors")
        if row.sync_first:
            init = pretrained_checkpoint(
                s, data, init, work / "start.safetensors", row.sync_first, row.optim, SEED
            )
        if row.sync:
            loss, steps = baseline(s, data, init, row.optim)[0], []
        else:
            run = diloco(s, data, init, work, log, optim=row.optim, outer=row.outer)
            loss, steps = run.loss, run.steps
    log(f"val_loss {loss:.4f}")
    length = row.sync_first + row.inner_steps * row.rounds
    return {"val_loss": loss, "merge_steps": steps, "length": length}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--jobs", type=int, default=2, help="rows trained at once (one core each)")
    ap.add_argument(
        "--rows", help="comma-separated rows to run (with every synchronous row); default: all"
    )
    args = ap.parse_args(argv)
    log = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    sizes, rows = (QUICK, QUICK_ROWS) if args.quick else (Sizes(), ROWS)
    if args.rows:
        wanted = args.rows.split(",")
        unknown = sorted(set(wanted) - set(rows))
        if unknown:
            ap.error(f"unknown rows {unknown}; the rows are {', '.join(rows)}")
        baselines = {rows[name].against for name in wanted}
        rows = {
            name: row
            for name, row in rows.items()
            if (row.sync and not row.against) or name in wanted or name in baselines
        }
    log(f"{len(rows)} rows, {args.jobs} at once; seed {SEED}; load {os.getloadavg()[0]:.2f}")
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {name: pool.submit(run_row, name, row, sizes) for name, row in rows.items()}
        done = {name: f.result() for name, f in futures.items()}
    best_sync: dict[int, float] = {}
    for name, fig in done.items():
        if rows[name].sync and not rows[name].against:
            best_sync[fig["length"]] = min(best_sync.get(fig["length"], fig["val_loss"]),
                                           fig["val_loss"])  # fmt: skip
    res: dict = {}
    for name, fig in done.items():
        against = rows[name].against
        best = done[against]["val_loss"] if against else best_sync[fig["length"]]
        res[f"gap_pct_{name}"] = 100 * (fig["val_loss"] - best) / best
    for name, fig in done.items():
        res[f"val_loss_{name}"] = fig["val_loss"]
        if fig["merge_steps"]:
            res[f"merge_steps_{name}"] = fig["merge_steps"]
    res["sizes"] = {"model": dataclasses.asdict(sizes.model), "inner_batch": sizes.inner_batch}
    emit(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
