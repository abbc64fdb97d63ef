"""Training loop, two-stage schedule, checkpoints (safetensors + metadata) and exact resume."""

from __future__ import annotations

import itertools
import json
import pickle
import struct
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from magnet_market.bitnet import checkpoint, export
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import (
    ClassifierConfig,
    MLPClassifier,
    Transformer,
    TransformerConfig,
)
from magnet_market.bitnet.train import (
    OptimConfig,
    TrainConfig,
    TrainingDivergedError,
    schedule,
    train,
    training_checkpoint,
)
from magnet_market.tasks import DigitsData


@pytest.fixture(scope="module")
def digits() -> DigitsData:
    return DigitsData()


def classifier(seed: int = 0, **kw) -> MLPClassifier:
    torch.manual_seed(seed)
    return MLPClassifier(ClassifierConfig(hidden=32, **kw))


def test_two_stage_schedule():
    cfg = OptimConfig(lr=1.0, weight_decay=0.1, warmup_steps=10, stage_split=0.5)
    n = 100
    lrs, wds = zip(*(schedule(s, s / n, cfg) for s in range(n)), strict=True)
    assert lrs[0] == pytest.approx(0.1) and lrs[9] > 0.95  # linear warmup over 10 steps
    assert all(a < b for a, b in itertools.pairwise(lrs[:10]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:50]))  # stage 1 decays
    assert lrs[49] == pytest.approx(cfg.stage1_final, abs=0.01)
    assert lrs[50] == pytest.approx(cfg.stage2_lr)  # abrupt drop at the split
    assert lrs[49] - lrs[50] > 0.25
    assert lrs[99] == pytest.approx(cfg.final_lr, abs=0.01)
    assert wds[0] == pytest.approx(0.1) and wds[49] > 0 and set(wds[50:]) == {0.0}
    with pytest.raises(ValueError, match="final_lr <= stage2_lr"):
        OptimConfig(stage2_lr=0.9, stage1_final=0.5)
    with pytest.raises(ValueError, match="exactly one of steps and time_budget"):
        TrainConfig(steps=None)


def test_a_slice_of_a_longer_schedule(digits):
    """``schedule_offset``/``schedule_steps``: the steps of one call follow their slice of a
    longer schedule (warm-up included only where the slice starts it)."""
    optim = OptimConfig(warmup_steps=5)
    whole = train(classifier(), digits, TrainConfig(steps=30, batch_size=8, optim=optim)).lrs
    middle = TrainConfig(steps=10, batch_size=8, optim=optim, schedule_offset=10, schedule_steps=30)
    assert train(classifier(), digits, middle).lrs == pytest.approx(whole[10:20])
    restart = train(classifier(), digits, TrainConfig(steps=10, batch_size=8, optim=optim)).lrs
    assert restart[0] < whole[10] and restart[-1] < whole[19]  # its own warm-up and decay
    with pytest.raises(ValueError, match="run past the schedule's 30 steps"):
        TrainConfig(steps=10, schedule_offset=25, schedule_steps=30)
    with pytest.raises(ValueError, match="schedule_offset needs schedule_steps"):
        TrainConfig(steps=10, schedule_offset=5)
    with pytest.raises(ValueError, match="schedule_steps needs a step count"):
        TrainConfig(steps=None, time_budget=1.0, schedule_steps=30)


def test_training_reduces_loss_and_learns_digits(digits):
    m = classifier()
    res = train(m, digits, TrainConfig(steps=150, batch_size=64, optim=OptimConfig(lr=1e-2)))
    assert res.step == 150 and len(res.losses) == 150
    assert sum(res.losses[-10:]) / 10 < 0.3 * sum(res.losses[:10]) / 10
    assert res.metrics["balanced_accuracy"] > 0.85


def test_bitnet_lm_loss_goes_down():
    from magnet_market.tasks import TinyLMData

    data = TinyLMData(seq_len=32, max_train_bytes=256 << 10, max_val_bytes=32 << 10, eval_batches=2)
    torch.manual_seed(0)
    m = Transformer(TransformerConfig(seq_len=32, d_model=32, n_layers=1, n_heads=2))
    res = train(m, data, TrainConfig(steps=60, batch_size=8))
    assert res.metrics["val_loss"] < 4.0 < 5.5  # from ln(256) = 5.55 at init
    assert res.metrics["val_bpb"] == pytest.approx(res.metrics["val_loss"] / 0.6931471805599453)


def test_seeded_runs_are_identical(digits):
    cfg = TrainConfig(steps=15, batch_size=32)
    a = train(classifier(), digits, cfg)
    b = train(classifier(), digits, cfg)
    assert a.losses == b.losses
    c = train(classifier(), digits, TrainConfig(steps=15, batch_size=32, seed=1))
    assert c.losses != a.losses


def test_resume_gives_the_same_loss_curve(digits, tmp_path):
    cfg = TrainConfig(
        steps=24, batch_size=32, eval_every=6, checkpoint_every=12, checkpoint_dir=tmp_path
    )
    full = train(classifier(), digits, cfg, parent_cid="bafyparent")
    assert [p.name for p in full.checkpoints] == [
        "step0000012.safetensors",
        "step0000024.safetensors",
    ]
    mid = checkpoint.load(full.checkpoints[0])
    assert mid.step == 12 and mid.parent_cid == "bafyparent" and mid.kind == "train"
    assert "balanced_accuracy" in mid.metrics
    assert json.loads(mid.extra["train"])["steps"] == 24
    resumed_model = classifier(seed=123)  # different init: everything must come from the file
    resumed = train(
        resumed_model, digits, cfg.__class__(**{**cfg.__dict__, "checkpoint_every": 0}), resume=mid
    )
    assert resumed.losses == full.losses[12:]
    assert resumed.lrs == full.lrs[12:]
    final = checkpoint.model_tensors(checkpoint.load(full.checkpoints[1]))
    for k, v in resumed_model.state_dict().items():
        assert torch.equal(v, final[k]), k


def test_time_budget_and_periodic_evaluation(digits):
    seen = []
    cfg = TrainConfig(steps=None, time_budget=0.5, batch_size=32, eval_every=5)
    res = train(classifier(), digits, cfg, on_eval=lambda step, m: seen.append((step, m)))
    assert 0.5 <= res.seconds < 5 and res.step == len(res.losses) > 5
    assert [s for s, _ in seen[:-1]] == list(range(5, res.step, 5))[: len(seen) - 1]
    assert seen[-1][0] == res.step and seen[-1][1] == res.metrics
    assert res.lrs[-1] < res.lrs[len(res.lrs) // 4]  # the schedule follows elapsed time


def test_divergence_fails_fast(digits):
    with pytest.raises(TrainingDivergedError, match="FAIL"):
        train(
            classifier(),
            digits,
            TrainConfig(steps=50, batch_size=32, optim=OptimConfig(lr=1e6, grad_clip=0)),
        )


def test_augmentation_is_the_task_s_and_bounded(digits):
    base = train(classifier(), digits, TrainConfig(steps=30, batch_size=32))
    cfg = TrainConfig(steps=30, batch_size=32, augment=1.0)
    shifted = train(classifier(), digits, cfg)
    assert shifted.losses != base.losses  # same init and batches, but the digits moved
    assert train(classifier(), digits, cfg).losses == shifted.losses  # seeded: replayable
    with pytest.raises(ValueError, match="augment must be in"):
        TrainConfig(augment=1.5)
    plain = SimpleNamespace(get_batch=digits.get_batch, evaluate=digits.evaluate)  # no augment
    with pytest.raises(ValueError, match="this task has no augmentation"):
        train(classifier(), plain, TrainConfig(steps=1, augment=0.5))


def test_train_rejects_packed_models(digits):
    with pytest.raises(ValueError, match="use_kernel=False"):
        train(export.to_kernel_model(classifier()), digits, TrainConfig(steps=1))


# --------------------------------------------------------------------------- checkpoint files


def test_checkpoint_roundtrip_and_metadata(tmp_path):
    m = classifier()
    ck = training_checkpoint(
        m, None, step=7, parent_cid="bafy123", metrics={"balanced_accuracy": 0.5}
    )
    path = ck.save(tmp_path / "a.safetensors")
    back = checkpoint.load(path)
    assert (back.step, back.parent_cid, back.metrics, back.config) == (
        7,
        "bafy123",
        {"balanced_accuracy": 0.5},
        m.config,
    )
    # plain safetensors: any reader sees the tensors and JSON-string metadata
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        assert set(f.keys()) == {f"model.{k}" for k in m.state_dict()}
    assert (
        meta["format"] == "magnet-bitnet/1" and json.loads(meta["config"])["kind"] == "classifier"
    )


def test_checkpoint_bytes_are_deterministic_across_processes():
    code = (
        "import sys, torch\n"
        "from magnet_market.bitnet.model import *\n"
        "from magnet_market.bitnet.train import training_checkpoint\n"
        "torch.manual_seed(0)\n"
        "m = MLPClassifier(ClassifierConfig(hidden=8))\n"
        "ck = training_checkpoint(m, None, 3, 'bafy', {'a': 1.0, 'b': 2.0})\n"
        "sys.stdout.buffer.write(ck.to_bytes())\n"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
        for _ in range(3)
    }
    assert len(outs) == 1


def test_packed_export_is_small_and_loads(tmp_path):
    torch.manual_seed(0)
    m = MLPClassifier(ClassifierConfig(n_features=1024, hidden=1024, n_layers=2))
    ck = export.export_packed(m, step=5, parent_cid="bafyp")
    assert ck.kind == "packed" and ck.config.use_kernel
    packed_w = sum(v.numel() for k, v in ck.tensors.items() if k.endswith("weight_packed"))
    fp_w = sum(mod.weight.numel() * 4 for mod in m.layers)
    assert fp_w / packed_w == 16.0
    back = export.load_model(checkpoint.load(ck.save(tmp_path / "p.safetensors")))
    x = torch.randn(4, 1024)
    with torch.no_grad():
        torch.testing.assert_close(back(x)[0], m.eval()(x)[0], rtol=1e-3, atol=1e-3)


def test_untrusted_files_are_rejected(tmp_path):
    m = classifier()
    good = training_checkpoint(m, None, step=1).to_bytes()
    with pytest.raises(CheckpointError):
        checkpoint.from_bytes(pickle.dumps(m.state_dict()))
    with pytest.raises(CheckpointError, match="header length"):
        checkpoint.from_bytes(good[:20])
    with pytest.raises(CheckpointError, match="shorter"):
        checkpoint.from_bytes(b"abc")
    huge = struct.pack("<Q", 1 << 40) + b"{}"
    with pytest.raises(CheckpointError, match="header length"):
        checkpoint.from_bytes(huge)
    from safetensors.torch import save

    with pytest.raises(CheckpointError, match="format"):
        checkpoint.from_bytes(save({"x": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="bad checkpoint metadata"):
        checkpoint.from_bytes(
            save({"x": torch.zeros(1)}, metadata={"format": "magnet-bitnet/1", "kind": "train"})
        )
    other = training_checkpoint(MLPClassifier(ClassifierConfig(hidden=16)), None, 1)
    with pytest.raises(CheckpointError, match=r"tensor layers\.0\.weight"):
        checkpoint.load_into(m, checkpoint.Checkpoint(other.tensors, m.config))
    with pytest.raises(CheckpointError, match="missing"):
        checkpoint.load_into(m, checkpoint.Checkpoint({}, m.config))
    bad = export.export_packed(m)
    bad.tensors["model.layers.0.weight_packed"] = torch.full_like(
        bad.tensors["model.layers.0.weight_packed"], 0xFF
    )
    with pytest.raises(CheckpointError, match="invalid 2-bit code"):
        export.load_model(checkpoint.from_bytes(bad.to_bytes()))
    bad = export.export_packed(m)
    bad.tensors["model.layers.1.weight_scale"] = torch.tensor(float("nan"))
    with pytest.raises(CheckpointError, match="weight_scale must be finite"):
        export.load_model(checkpoint.from_bytes(bad.to_bytes()))
