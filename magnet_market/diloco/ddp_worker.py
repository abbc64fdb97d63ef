"""``torchrun`` entry point: one contributor's inner training, data-parallel over ranks.

Usage (2 processes on this machine; add ``--nnodes``/``--rdzv-endpoint`` for several)::

    torchrun --nproc-per-node 2 -m magnet_market.diloco.ddp_worker \\
        --task digits --parent parent.safetensors --parent-cid bafy... \\
        --out contribution.safetensors --steps 50 --global-batch 64

Rank 0 writes the checkpoint; its ``train`` metadata records the global batch, so the declared
work (steps x global batch) is what verification checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from magnet_market.bitnet.checkpoint import load, load_into
from magnet_market.bitnet.model import TransformerConfig, build_model
from magnet_market.bitnet.train import (
    OptimConfig,
    TaskData,
    TrainConfig,
    optim_with,
    train,
    training_checkpoint,
)
from magnet_market.diloco.distributed import ShardedData, average_gradients, broadcast_parameters


def task_data(task: str, config: object) -> TaskData:
    """The task's data set, shaped for the model config."""
    from magnet_market.tasks import DigitsData, TinyLMData

    if task == "digits":
        return DigitsData()
    if task == "tinylm" and isinstance(config, TransformerConfig):
        return TinyLMData(seq_len=config.seq_len)
    raise ValueError(f"unknown task {task!r} for this model; use 'digits' or 'tinylm'")


def _optim_arg(text: str) -> OptimConfig:
    try:
        changes = json.loads(text)
        if not isinstance(changes, dict):
            raise ValueError(f"a JSON object of settings, not {text!r}")
        return optim_with(changes)
    except ValueError as e:  # json.JSONDecodeError is one
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--task", required=True, help="digits | tinylm")
    ap.add_argument("--parent", type=Path, required=True, help="the round's parent checkpoint")
    ap.add_argument("--parent-cid", default="", help="recorded as the contribution's parent")
    ap.add_argument("--out", type=Path, required=True, help="where rank 0 writes the result")
    ap.add_argument("--steps", type=int, default=50, help="inner steps H")
    ap.add_argument("--global-batch", type=int, default=32, help="examples per step, all ranks")
    ap.add_argument(
        "--optim",
        type=_optim_arg,
        default=OptimConfig(),
        help="the recipe: the engine's with these fields changed, as a task spec's optim "
        "section (JSON, e.g. '{\"lr\": 0.0015}')",
    )
    ap.add_argument("--seed", type=int, default=0, help="data order seed")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    dist.init_process_group("gloo")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.global_batch % world:
            raise ValueError(
                f"--global-batch {args.global_batch} must be a multiple of {world} ranks"
            )
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        parent = load(args.parent)
        model = build_model(parent.config)
        load_into(model, parent)
        broadcast_parameters(model)
        average_gradients(model)
        cfg = TrainConfig(
            steps=args.steps,
            batch_size=args.global_batch // world,
            seed=args.seed,
            optim=args.optim,
        )
        data = ShardedData(task_data(args.task, parent.config), rank, world)
        result = train(model, data, cfg, parent_cid=args.parent_cid)
        if rank == 0:
            recorded = dataclasses.replace(cfg, batch_size=args.global_batch)
            ck = training_checkpoint(
                model, None, result.step, args.parent_cid, result.metrics, recorded
            )
            ck.save(args.out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
    # All work is done and synchronized (barrier, process group destroyed). Under load, gloo's
    # transport threads can still be torn down out of order at interpreter exit and abort the
    # process ("terminate called without an active exception"), so leave without running
    # static destructors.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
