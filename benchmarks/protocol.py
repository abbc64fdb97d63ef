"""What contributors carry between rounds, measured: DiLoCo from random weights on tinylm.

Usage:
    python benchmarks/protocol.py            # about 15 minutes on one core, key: value block
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
from diloco import SEED, evaluate_file, initial_checkpoint  # sibling benchmark

from magnet_market.bitnet.checkpoint import Checkpoint, load, load_into
from magnet_market.bitnet.model import TransformerConfig, build_model
from magnet_market.bitnet.train import OptimConfig, TrainConfig, train, training_checkpoint
from magnet_market.diloco import AggregationConfig
from magnet_market.diloco.guard import guarded_merge, merge_steps
from magnet_market.diloco.outer import OuterConfig
from magnet_market.diloco.verify import Metric, VerifyRules
from magnet_market.tasks import TinyLMData

RECIPE = OptimConfig()  # the engine's BitNet recipe: what a task's contributors train with
CONSTANT = dataclasses.replace(
    RECIPE, stage_split=1.0, stage1_final=1.0, stage2_lr=1.0, final_lr=1.0, weight_decay=0.0
)
MEAN = AggregationConfig(method="mean", clip_multiple=None)


@dataclass(frozen=True)
class Sizes:
    workers: int = 4  # K
    inner_steps: int = 50  # H
    rounds: int = 10  # R
    inner_batch: int = 8
    model: TransformerConfig = dataclasses.field(
        default_factory=lambda: TransformerConfig(d_model=128, n_layers=2, n_heads=4, seq_len=64)
    )


QUICK = Sizes(inner_steps=10, rounds=3)


@dataclass(frozen=True)
class Variant:
    optim: OptimConfig
    carry: bool  # each worker keeps its AdamW moments between rounds
    guard: bool


VARIANTS = {
    "market": Variant(RECIPE, carry=False, guard=False),
    "market_guard": Variant(RECIPE, carry=False, guard=True),
    "carry_guard": Variant(RECIPE, carry=True, guard=True),
    "constant_guard": Variant(CONSTANT, carry=False, guard=True),
}


def synchronous(s: Sizes, data: TinyLMData, init: Path, optim: OptimConfig) -> float:
    model = build_model(s.model)
    load_into(model, load(init))
    steps = s.inner_steps * s.rounds
    cfg = TrainConfig(steps=steps, batch_size=s.workers * s.inner_batch, seed=SEED, optim=optim)
    return train(model, data, cfg).metrics["val_loss"]


def inner_round(
    s: Sizes, v: Variant, data: TinyLMData, parent: Path, worker: int, rnd: int, work: Path
) -> Path:
    """H steps of one worker from ``parent``; with ``carry``, on its own last AdamW state."""
    state_dir = work / f"worker{worker}"
    kept = sorted(state_dir.glob("*.safetensors"))
    model = build_model(s.model)
    ck, resume = load(parent), None
    if v.carry and kept:
        moments = {k: t for k, t in load(kept[-1]).tensors.items() if k.startswith("optim.")}
        weights = {k: t for k, t in ck.tensors.items() if k.startswith("model.")}
        resume = Checkpoint({**weights, **moments}, s.model)  # step 0: the schedule restarts
    else:
        load_into(model, ck)
    for old in kept:
        old.unlink()
    cfg = TrainConfig(
        steps=s.inner_steps,
        batch_size=s.inner_batch,
        seed=SEED + 1 + worker + s.workers * rnd,
        optim=v.optim,
        checkpoint_every=s.inner_steps,
        checkpoint_dir=state_dir,
    )
    res = train(model, data, cfg, resume=resume, parent_cid=f"round{rnd}")
    upload = training_checkpoint(model, None, res.step, f"round{rnd}", res.metrics, cfg)
    return upload.save(work / f"r{rnd}w{worker}.safetensors")


def run(s: Sizes, v: Variant, data: TinyLMData, init: Path, work: Path, log) -> dict:
    evaluate = functools.partial(evaluate_file, data=data)
    steps = merge_steps(OuterConfig(), v.guard)
    parent, curve, kept = init, [], []
    for rnd in range(s.rounds):
        subs = [inner_round(s, v, data, parent, w, rnd, work) for w in range(s.workers)]
        merged = guarded_merge(
            steps, MEAN, parent, subs, [1.0] * len(subs), [evaluate(p) for p in subs],
            metric=Metric(), tolerance=VerifyRules().regression_tolerance, evaluate=evaluate,
            out=work / f"merged{rnd}.safetensors",
        )  # fmt: skip
        parent = merged.path
        curve.append(round(merged.metric, 4))
        kept.append(merged.step.name)
        log(f"  round {rnd + 1}/{s.rounds}: val_loss {merged.metric:.4f} ({merged.step.name})")
    return {"loss": curve[-1], "curve": curve, "steps": kept}


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
        sync = synchronous(s, data, init, RECIPE)
        log(f"synchronous, the recipe's schedule over the run: val_loss {sync:.4f}")
        res["sync_val_loss"] = sync
        res["sync_constant_val_loss"] = synchronous(s, data, init, CONSTANT)
        log(f"synchronous, constant lr: val_loss {res['sync_constant_val_loss']:.4f}")
        for name, variant in VARIANTS.items():
            log(f"{name}: {variant}")
            out = run(s, variant, data, init, work / name, log)
            res[f"gap_pct_{name}"] = 100 * (out["loss"] - sync) / sync
            res[f"val_loss_per_round_{name}"] = out["curve"]
            res[f"merge_steps_{name}"] = out["steps"]
    res["sizes"] = dataclasses.asdict(s)
    gaps = [k for k in res if k.startswith("gap_pct_")]
    emit({k: res.pop(k) for k in gaps} | res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
