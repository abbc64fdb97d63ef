"""Verification rules, one submission each, on real digits checkpoints."""

from __future__ import annotations

import pickle

import pytest
import torch

from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.model import ClassifierConfig
from magnet_market.diloco._reader import TensorFile
from magnet_market.diloco.verify import (
    METRIC_DECIMALS,
    Metric,
    RoundParent,
    Submission,
    VerifyRules,
    verify,
)
from magnet_market.tasks import DigitsData
from tests.diloco._digits import (
    CONFIG,
    INNER_STEPS,
    PARENT_CID,
    contribute,
    parent_checkpoint,
    tamper,
)

RULES = VerifyRules(metric=Metric("val_loss"), max_steps=INNER_STEPS)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("verify")
    data = DigitsData()
    parent_path = parent_checkpoint(tmp / "parent.safetensors")
    parent = RoundParent.measure(parent_path, PARENT_CID, CONFIG, data.evaluate, RULES.metric)
    honest = contribute(parent_path, data, seed=1, path=tmp / "honest.safetensors")
    return data, parent, honest, tmp


def check(world, path, rules=RULES, **sub):
    data, parent, _, _ = world
    return verify(Submission("bafysub", "0xabc", path, **sub), parent, data.evaluate, rules)


def failed(verdict):
    return [(c.name, c.reason) for c in verdict.checks if not c.passed]


def test_honest_submission_is_accepted(world):
    _, parent, honest, _ = world
    v = check(world, honest)
    assert v.accepted and not v.dishonest, failed(v)
    assert [c.name for c in v.checks] == [
        "safetensors",
        "kind",
        "config",
        "tensors",
        "parent",
        "finite",
        "update_norm",
        "work",
        "claim",
        "not_worse",
    ]
    # same split, same model: the judge's float64 kernel figure is the trainer's float32 one
    # within 1e-4, and is rounded to METRIC_DECIMALS
    assert v.measured == pytest.approx(v.claimed, abs=1e-4)
    assert v.measured == round(v.measured, METRIC_DECIMALS)
    assert v.improvement == pytest.approx(parent.metric - v.measured) and v.improvement > 0.1
    assert v.steps == INNER_STEPS and v.work == INNER_STEPS * 32
    assert v.update_norm > 0


def test_claim_better_than_measured_is_dishonest(world):
    _, _, honest, _ = world
    measured = check(world, honest).measured
    v = check(world, honest, claimed_metric=measured - 0.05)
    assert not v.accepted and v.dishonest
    assert failed(v) == [
        ("claim", f"claimed {measured - 0.05:.6g}, measured {measured:.6g}, tolerance 0.01")
    ]
    assert check(world, honest, claimed_metric=measured - 0.005).accepted  # within tolerance
    assert check(world, honest, claimed_metric=measured + 0.5).accepted  # modesty is no crime


def test_worse_than_parent_is_rejected_not_slashed(world):
    _, parent, honest, tmp = world
    worse = tamper(
        honest,
        tmp / "worse.safetensors",
        metrics={},
        fn=lambda t: {**t, "model.head.weight": -t["model.head.weight"]},
    )
    v = check(world, worse, claimed_metric=parent.metric + 1.0)  # claims honestly that it is bad
    assert not v.accepted and not v.dishonest
    assert [name for name, _ in failed(v)] == ["not_worse"]
    assert v.improvement < -RULES.regression_tolerance


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        ("parent", {"parent_cid": "bafyother"}, "round parent 'bafyparent'"),
        ("config", {"config": ClassifierConfig(hidden=16, n_layers=2)}, "differs from the task"),
        ("kind", {"kind": "packed"}, "need 'train'"),
        ("tensors", {"fn": lambda t: {**t, "model.extra": torch.zeros(1)}}, "unexpected ['extra']"),
        (
            "tensors",
            {"fn": lambda t: {**t, "model.head.bias": torch.zeros(10, dtype=torch.float64)}},
            "torch.float64",
        ),
        (
            "tensors",
            {"fn": lambda t: {**t, "evil.code": torch.zeros(1)}},
            "only 'model.' and 'optim.'",
        ),
        (
            "finite",
            {"fn": lambda t: {**t, "model.norm.weight": torch.full((16,), float("nan"))}},
            "['norm.weight']",
        ),
        ("update_norm", {"fn": lambda t: {k: v * 50 for k, v in t.items()}}, "bound"),
        ("work", {"step": INNER_STEPS + 1}, "outside 1..20"),
        ("work", {"extra": {}}, "training_checkpoint"),
    ],
)
def test_structural_failures_stop_before_evaluation(world, name, changes, reason):
    _, _, honest, tmp = world
    v = check(world, tamper(honest, tmp / f"bad-{name}.safetensors", **changes))
    assert not v.accepted and not v.dishonest
    assert failed(v)[0][0] == name and reason in failed(v)[0][1]
    assert v.checks[-1].name == name and v.measured is None  # nothing after the first failure


def test_declared_steps_must_match_metadata(world):
    _, _, honest, _ = world
    v = check(world, honest, declared_steps=INNER_STEPS - 1)
    assert failed(v) == [("work", f"declared {INNER_STEPS - 1} steps, metadata says {INNER_STEPS}")]


def test_pickle_and_garbage_are_refused(world):
    _, _, _, tmp = world
    pkl = tmp / "model.pt"
    pkl.write_bytes(pickle.dumps({"model.w": [1.0]}))
    v = check(world, pkl)
    assert [c.name for c in v.checks] == ["safetensors"] and not v.accepted
    assert "header length" in v.checks[0].reason or "not a" in v.checks[0].reason


def test_missing_claim_is_rejected(world):
    _, _, honest, tmp = world
    v = check(world, tamper(honest, tmp / "noclaim.safetensors", metrics={}))
    assert failed(v) == [("claim", "no claimed val_loss in the reveal or the metadata")]
    assert not v.dishonest


def test_bad_rules_say_how_to_fix():
    with pytest.raises(ValueError, match="metric units"):
        VerifyRules(claim_tolerance=-1)
    with pytest.raises(ValueError, match="max_update_ratio"):
        VerifyRules(max_update_ratio=0)


def test_verification_streams_and_never_reads_optimizer_state(world, monkeypatch):
    """Metadata from the header, each model tensor read on its own, ``optim.`` never read."""
    _, _, honest, tmp = world
    with_optim = tamper(
        honest,
        tmp / "optim.safetensors",
        fn=lambda t: {**t, **{f"optim.{k[6:]}.exp_avg": torch.zeros_like(v) for k, v in t.items()}},
    )
    reads: list[tuple[str, str]] = []
    real_get = TensorFile.get

    def spy(self, name):
        reads.append((self.path.name, name))
        return real_get(self, name)

    def whole_file(*_args, **_kwargs):
        raise AssertionError("verification loaded a whole checkpoint")

    monkeypatch.setattr(TensorFile, "get", spy)
    monkeypatch.setattr(checkpoint, "load", whole_file)
    monkeypatch.setattr(checkpoint, "from_bytes", whole_file)
    assert check(world, with_optim).accepted
    mine = [name for file, name in reads if file == "optim.safetensors"]
    assert mine and all(name.startswith("model.") for name in mine)
    assert max(mine.count(n) for n in mine) == 2  # the finite/norm pass, then into the model
