"""What contributors carry between rounds, measured: DiLoCo from random weights on tinylm.

Usage:
    python benchmarks/protocol.py            # about 20 minutes on one core, key: value block
    python benchmarks/protocol.py --json     # one JSON object on stdout (progress on stderr)
    python benchmarks/protocol.py --quick    # small sizes, a smoke run

Each variant runs K workers for R rounds of H inner steps from the same random weights, merging
each round as named; every gap is % of the validation loss of synchronous training over the
same examples and steps (one model, a K x B batch) with the same inner optimizer settings.

Variants (``gap_pct_<name>``):

* ``market``: the protocol contributors ran in version 1: a fresh AdamW each round and the
  recipe's whole schedule (warm-up, two-stage decay) within the round's H steps; outer step only;
* ``market_guard``: the same behind the merge guard (``diloco.guard``);
* ``carry_guard``: each worker keeps its own AdamW moments from its last round (the schedule
  still restarts each round), behind the guard;
* ``carry_run_guard``: the same, but the schedule's position travels too: round r trains steps
  r*H .. (r+1)*H of one schedule over the whole run, as the synchronous baseline does;
* ``constant_guard``: a fresh AdamW each round with a constant lr after the warm-up, behind
  the guard.

The synchronous baseline for all four uses the recipe's schedule over the whole run.
Extra keys: the two baselines, each variant's loss per round and the merge step each round kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`
from diloco import QUICK, SEED, Sizes, baseline, diloco, initial_checkpoint  # sibling benchmark

from magnet_market.bitnet.train import OptimConfig
from magnet_market.tasks import TinyLMData

RECIPE = OptimConfig()  # the engine's BitNet recipe: what a task's contributors train with
CONSTANT = dataclasses.replace(
    RECIPE, stage_split=1.0, stage1_final=1.0, stage2_lr=1.0, final_lr=1.0, weight_decay=0.0
)
# the DiLoCo benchmark's sizes that apply here (its pretraining and big merge do not)
SIZE_FIELDS = ("workers", "inner_steps", "rounds", "inner_batch", "model")


@dataclass(frozen=True)
class Variant:
    optim: OptimConfig
    carry: bool  # each worker keeps its AdamW moments between rounds
    guard: bool
    run_schedule: bool = False  # one schedule over the run instead of one per round


VARIANTS = {
    "market": Variant(RECIPE, carry=False, guard=False),
    "market_guard": Variant(RECIPE, carry=False, guard=True),
    "carry_guard": Variant(RECIPE, carry=True, guard=True),
    "carry_run_guard": Variant(RECIPE, carry=True, guard=True, run_schedule=True),
    "constant_guard": Variant(CONSTANT, carry=False, guard=True),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = ap.parse_args(argv)
    log = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    torch.set_num_threads(1)
    s = QUICK if args.quick else Sizes()
    log(f"sizes: {s}; seed {SEED}; load average {os.getloadavg()[0]:.2f}")
    data = TinyLMData(seq_len=s.model.seq_len, max_train_bytes=2 << 20, max_val_bytes=256 << 10)
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        init = initial_checkpoint(s.model, work / "init.safetensors")
        sync = baseline(s, data, init, RECIPE)[0]
        log(f"synchronous, the recipe's schedule over the run: val_loss {sync:.4f}")
        res["sync_val_loss"] = sync
        res["sync_constant_val_loss"] = baseline(s, data, init, CONSTANT)[0]
        log(f"synchronous, constant lr: val_loss {res['sync_constant_val_loss']:.4f}")
        for name, v in VARIANTS.items():
            log(f"{name}: {v}")
            run = diloco(s, data, init, work / name, log, v.guard, v.optim, v.carry, v.run_schedule)
            curve = [round(loss, 4) for loss in run.curve]
            res[f"gap_pct_{name}"] = 100 * (curve[-1] - sync) / sync
            res[f"val_loss_per_round_{name}"] = curve
            res[f"merge_steps_{name}"] = run.steps
    res["sizes"] = {k: v for k, v in dataclasses.asdict(s).items() if k in SIZE_FIELDS}
    gaps = [k for k in res if k.startswith("gap_pct_")]
    emit({k: res.pop(k) for k in gaps} | res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
