"""Data-parallel inner training: 2 gloo processes on 127.0.0.1, launched by torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from magnet_market.bitnet.checkpoint import load, load_into
from magnet_market.bitnet.model import build_model
from magnet_market.bitnet.train import TrainConfig, optim_with, train
from magnet_market.diloco.distributed import ShardedData
from magnet_market.tasks import DigitsData
from tests.diloco._digits import parent_checkpoint

STEPS, GLOBAL_BATCH = 12, 16
RECIPE = {"lr": 1e-2, "warmup_steps": 2, "final_lr": 0.1}  # not the engine's: --optim is used


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shards_are_the_rows_of_the_global_batch():
    data = DigitsData()
    full = data.get_batch("train", 12, torch.Generator().manual_seed(5))
    parts = [
        ShardedData(data, r, 3).get_batch("train", 4, torch.Generator().manual_seed(5))
        for r in range(3)
    ]
    assert torch.equal(torch.cat([x for x, _ in parts]), full[0])
    assert torch.equal(torch.cat([y for _, y in parts]), full[1])


def test_two_gloo_ranks_follow_one_process_with_the_global_batch(tmp_path):
    parent = parent_checkpoint(tmp_path / "parent.safetensors")
    out = tmp_path / "ddp.safetensors"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [
        str(torchrun), "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
        "-m", "magnet_market.diloco.ddp_worker",
        "--task", "digits", "--parent", str(parent), "--parent-cid", "bafyp", "--out", str(out),
        "--steps", str(STEPS), "--global-batch", str(GLOBAL_BATCH), "--optim", json.dumps(RECIPE),
        "--seed", "3",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    single = build_model(load(parent).config)
    load_into(single, load(parent))
    cfg = TrainConfig(steps=STEPS, batch_size=GLOBAL_BATCH, seed=3, optim=optim_with(RECIPE))
    train(single, DigitsData(), cfg)

    ddp = load(out)
    assert ddp.parent_cid == "bafyp" and ddp.step == STEPS
    assert '"batch_size": 16' in ddp.extra["train"]  # declared work counts the global batch
    for name, want in single.state_dict().items():
        got = ddp.tensors[f"model.{name}"]
        assert torch.allclose(got, want, atol=1e-6), (name, (got - want).abs().max())
    assert not torch.equal(
        ddp.tensors["model.head.weight"], load(parent).tensors["model.head.weight"]
    )
