"""A kept market run's rounds replayed in process from one of its parents, under variants of the
round protocol: what a round gains with another inner lr or batch, against synchronous training.

Usage:
    python benchmarks/market.py --json --keep RUN            # a market run that keeps its folder
    python benchmarks/round_variants.py RUN --from-round 3   # about 45 minutes on 2 cores
    python benchmarks/round_variants.py RUN --variants task,sync --rounds 1 --json

Every variant starts from the parent of round ``--from-round`` of the kept run (the model the
market had merged by then, with its outer momentum) and trains ``--rounds`` rounds on the task's
data as ``benchmarks/diloco.py`` runs them (K workers that keep their own AdamW moments from
their first round here, which starts them fresh; the task's outer step behind the merge guard),
or, for a ``sync*`` variant, synchronous training of one model over the same examples and steps
(a K x B batch). Each variant changes one thing from ``task`` (the task's recipe, H and batch):
the inner lr, or the batch with H (``batch_x4``) or K (``half_k``: half the workers, each with
twice the batch) scaled so that a round costs the same compute. This costs far less than a
market run and isolates the protocol's choices from chain and process overheads.

Keys: ``val_loss_<variant>`` (after each round), ``gain_<variant>`` (the parent's loss minus the
last round's), ``gain_vs_sync_<variant>`` (that gain over the best ``sync*`` variant's),
``merge_steps_<variant>``, ``parent_val_loss``, ``from_round``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`
from credit_rules import load_run  # sibling benchmark: a kept run's spec, store and reports
from diloco import Sizes, baseline, diloco, evaluate_file  # sibling benchmark

from magnet_market.bitnet.train import OptimConfig
from magnet_market.tasks.data import task_data
from magnet_market.tasks.spec import TaskSpec


@dataclass(frozen=True)
class Variant:
    """One replay: synchronous or DiLoCo, with an lr scale and a batch (H or K scaled to match)."""

    sync: bool = False
    lr_scale: float = 1.0
    batch_scale: int = 1  # B x batch_scale per step, H / batch_scale steps per round
    worker_split: int = 1  # K / worker_split workers of B x worker_split (H unchanged)


VARIANTS = {
    "task": Variant(),
    "lr_x0.5": Variant(lr_scale=0.5),
    "lr_x0.25": Variant(lr_scale=0.25),
    "batch_x4": Variant(batch_scale=4),
    "half_k": Variant(worker_split=2),
    "sync": Variant(sync=True),
    "sync_lr_x0.5": Variant(sync=True, lr_scale=0.5),
}


def replay(
    name: str, variant: Variant, spec: TaskSpec, parent: Path, rounds: int, workers: int
) -> dict:
    """Train one variant in this process (one thread) and return its figures."""
    torch.set_num_threads(1)
    optim: OptimConfig = spec.optim_config()
    optim = dataclasses.replace(optim, lr=optim.lr * variant.lr_scale)
    s = Sizes(
        workers=workers // variant.worker_split,
        inner_steps=spec.inner_steps // variant.batch_scale,
        rounds=rounds,
        inner_batch=spec.batch_size * variant.batch_scale * variant.worker_split,
        model=spec.model_config_obj(),
    )
    data = task_data(spec)
    log = functools.partial(print, f"{name}:", file=sys.stderr, flush=True)
    if variant.sync:
        curve, steps = [baseline(s, data, parent, optim)[0]], []
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run = diloco(s, data, parent, Path(tmp), log, optim=optim)
        curve, steps = run.curve, run.steps
    log(f"val_loss {curve[-1]:.4f}")
    return {"curve": curve, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a folder kept by benchmarks/market.py --keep")
    ap.add_argument("--from-round", type=int, default=0, help="start from this round's parent")
    ap.add_argument("--rounds", type=int, default=2, help="rounds each variant trains")
    ap.add_argument("--workers", type=int, default=4, help="K (the market benchmark's)")
    ap.add_argument("--jobs", type=int, default=2, help="variants trained at once (one core each)")
    ap.add_argument("--variants", help=f"comma-separated, of {', '.join(VARIANTS)}; default: all")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args(argv)
    log = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    wanted = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; the variants are {', '.join(VARIANTS)}")
    spec, store, documents = load_run(args.run)
    if not 0 <= args.from_round < len(documents):
        ap.error(f"the run has rounds 0 to {len(documents) - 1}")
    for name in wanted:
        if spec.inner_steps % VARIANTS[name].batch_scale:
            ap.error(f"{name} needs H={spec.inner_steps} to be a multiple of its batch scale")
        if args.workers % VARIANTS[name].worker_split:
            ap.error(f"{name} needs K={args.workers} to be a multiple of its worker split")
    with tempfile.TemporaryDirectory() as tmp:
        parent = store.get_to_path(
            documents[args.from_round]["report"]["parent_cid"], Path(tmp) / "parent.safetensors"
        )
        parent_loss = evaluate_file(parent, task_data(spec))
        log(f"round {args.from_round}'s parent: val_loss {parent_loss:.4f}; {len(wanted)} "
            f"variants, {args.jobs} at once; load {os.getloadavg()[0]:.2f}")  # fmt: skip
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = {
                name: pool.submit(
                    replay, name, VARIANTS[name], spec, parent, args.rounds, args.workers
                )
                for name in wanted
            }
            done = {name: f.result() for name, f in futures.items()}
    gains = {name: parent_loss - fig["curve"][-1] for name, fig in done.items()}
    synced = [gains[name] for name in done if VARIANTS[name].sync]
    res: dict = {"from_round": args.from_round, "parent_val_loss": parent_loss}
    for name, fig in done.items():
        res[f"val_loss_{name}"] = fig["curve"]
        res[f"gain_{name}"] = gains[name]
        if synced:
            res[f"gain_vs_sync_{name}"] = gains[name] / max(synced)
        if fig["steps"]:
            res[f"merge_steps_{name}"] = fig["steps"]
    emit(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
