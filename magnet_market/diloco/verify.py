"""Verification of one submitted checkpoint before anything is merged.

Files come from strangers, so every rule is checked on the bytes the coordinator fetched: the
cheap structural checks first (safetensors only, kind, model config, tensor names/shapes/dtypes,
parent CID, finite values, pseudo-gradient norm, declared work), then the expensive one:
evaluation on the coordinator's held-out split, compared with the contributor's claim and with
the parent. A failure is a :class:`Check` with a reason in the :class:`Verdict`, never an
exception: the round report shows every submission, accepted or not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.checkpoint import Checkpoint, load_into, model_tensors
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import ModelConfig, TransformerConfig, build_model

Evaluate = Callable[[nn.Module], dict[str, float]]  # a task's ``evaluate`` (held-out split)


@dataclass(frozen=True)
class Metric:
    """The task's metric and its direction (``val_loss``: lower is better)."""

    name: str = "val_loss"
    higher_is_better: bool = False

    def improvement(self, parent: float, candidate: float) -> float:
        """How much better ``candidate`` is than ``parent`` (positive: better), in metric units."""
        return candidate - parent if self.higher_is_better else parent - candidate


@dataclass(frozen=True)
class VerifyRules:
    """Tolerances and bounds of verification (all in metric units unless said otherwise)."""

    metric: Metric = Metric()
    claim_tolerance: float = 0.01  # a claim better than measured by more is dishonest (slashed)
    regression_tolerance: float = 0.01  # worse than the parent by more: rejected, no credit
    max_update_ratio: float = 1.0  # ||parent - theta|| / ||parent|| above this: rejected
    max_steps: int | None = None  # the task's inner steps H; more declared work is refused

    def __post_init__(self) -> None:
        for name in ("claim_tolerance", "regression_tolerance"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (metric units), got {getattr(self, name)}")
        if self.max_update_ratio <= 0:
            raise ValueError(f"max_update_ratio must be > 0, got {self.max_update_ratio}")


@dataclass(frozen=True)
class Submission:
    """One revealed submission: its file (already fetched and CID-checked) and the claim."""

    cid: str
    author: str
    path: Path
    claimed_metric: float | None = None  # from the reveal; None: the checkpoint's ``metrics``
    declared_steps: int | None = None  # from the reveal; checked against the metadata
    fetch_error: str | None = None  # why the coordinator could not get the bytes (no file then)


@dataclass(frozen=True)
class Check:
    """One rule's outcome; ``reason`` says what was found (also when it passed)."""

    name: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    """Everything verification found out about one submission."""

    cid: str
    author: str
    checks: tuple[Check, ...]
    claimed: float | None = None
    measured: float | None = None
    improvement: float | None = None  # measured vs parent, positive = better
    update_norm: float | None = None
    steps: int | None = None
    work: int | None = None  # tokens (transformer) or examples (classifier) seen

    @property
    def accepted(self) -> bool:
        """Every rule passed: the submission is merged and may earn credit."""
        return all(c.passed for c in self.checks)

    @property
    def dishonest(self) -> bool:
        """Claimed a better metric than measured beyond the tolerance (the slashable case)."""
        return self.claimed is not None and any(
            c.name == "claim" and not c.passed for c in self.checks
        )


@dataclass(frozen=True)
class RoundParent:
    """The round's parent as verification needs it: weights, CID, config, measured metric."""

    cid: str
    config: ModelConfig
    tensors: dict[str, torch.Tensor]  # model tensors, ``model.`` prefix stripped
    metric: float

    @classmethod
    def measure(
        cls, path: str | Path, cid: str, config: ModelConfig, evaluate: Evaluate, metric: Metric
    ) -> RoundParent:
        """Load the parent checkpoint and evaluate it once for the whole round."""
        ck = checkpoint.load(path)
        model = build_model(config)
        load_into(model, ck)
        return cls(cid, config, model_tensors(ck), evaluate(model)[metric.name])


def verify(sub: Submission, parent: RoundParent, evaluate: Evaluate, rules: VerifyRules) -> Verdict:
    """Run every rule on ``sub``; stops at the first structural failure (nothing to evaluate)."""
    checks: list[Check] = []
    found: dict = {}

    def record(name: str, ok: bool, reason: str) -> bool:
        checks.append(Check(name, ok, reason))
        return ok

    def verdict() -> Verdict:
        return Verdict(sub.cid, sub.author, tuple(checks), **found)

    if sub.fetch_error is not None:
        record("fetch", False, sub.fetch_error)
        return verdict()
    try:
        ck = checkpoint.from_bytes(Path(sub.path).read_bytes())
    except (CheckpointError, OSError) as exc:
        record("safetensors", False, str(exc))
        return verdict()
    record("safetensors", True, "parsed as a safetensors MAGNET checkpoint (no pickle)")
    if not record("kind", ck.kind == "train", f"kind {ck.kind!r}, need 'train' (fp32 weights)"):
        return verdict()
    if not record("config", ck.config == parent.config, _config_reason(ck.config, parent.config)):
        return verdict()
    ok, reason = _tensors_match(ck, parent.tensors)
    if not record("tensors", ok, reason):
        return verdict()
    if not record(
        "parent",
        ck.parent_cid == parent.cid,
        f"metadata parent_cid {ck.parent_cid!r}, round parent {parent.cid!r}",
    ):
        return verdict()
    state = model_tensors(ck)
    bad = sorted(k for k, v in state.items() if not bool(torch.isfinite(v).all()))
    if not record("finite", not bad, f"NaN/Inf in {bad}" if bad else "all values finite"):
        return verdict()
    norm = _norm({k: parent.tensors[k] - v for k, v in state.items()})
    bound = rules.max_update_ratio * _norm(parent.tensors)
    found["update_norm"] = norm
    if not record(
        "update_norm", norm <= bound, f"||parent - theta|| = {norm:.6g}, bound {bound:.6g}"
    ):
        return verdict()
    steps, work, reason = _declared_work(ck, sub.declared_steps, rules.max_steps)
    found.update(steps=steps, work=work)
    if not record("work", work is not None, reason):
        return verdict()
    model = build_model(parent.config)
    load_into(model, ck)
    measured = evaluate(model)[rules.metric.name]
    claimed = sub.claimed_metric
    if claimed is None:
        claimed = ck.metrics.get(rules.metric.name)
    improvement = rules.metric.improvement(parent.metric, measured)
    found.update(claimed=claimed, measured=measured, improvement=improvement)
    if claimed is None:
        record("claim", False, f"no claimed {rules.metric.name} in the reveal or the metadata")
    else:
        overclaim = rules.metric.improvement(measured, claimed)  # > 0: claim beats measurement
        record(
            "claim",
            overclaim <= rules.claim_tolerance,
            f"claimed {claimed:.6g}, measured {measured:.6g}, tolerance {rules.claim_tolerance}",
        )
    record(
        "not_worse",
        improvement >= -rules.regression_tolerance,
        f"measured {measured:.6g} vs parent {parent.metric:.6g}, "
        f"tolerance {rules.regression_tolerance}",
    )
    return verdict()


def _config_reason(got: ModelConfig, want: ModelConfig) -> str:
    if got == want:
        return "model config matches the task"
    return f"model config {got} differs from the task's {want}"


def _tensors_match(ck: Checkpoint, want: dict[str, torch.Tensor]) -> tuple[bool, str]:
    """Model tensors exactly the task's (names, shapes, dtypes); other entries only ``optim.``."""
    strays = sorted(k for k in ck.tensors if not k.startswith(("model.", "optim.")))
    if strays:
        return False, f"unexpected tensors {strays[:5]} (only 'model.' and 'optim.' allowed)"
    got = model_tensors(ck)
    if set(got) != set(want):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        return False, f"missing {missing[:5]}, unexpected {extra[:5]}"
    for k, v in want.items():
        if got[k].shape != v.shape or got[k].dtype != v.dtype:
            return False, (
                f"{k}: {got[k].dtype} {tuple(got[k].shape)}, task needs {v.dtype} {tuple(v.shape)}"
            )
    return True, f"{len(want)} model tensors match the task's names, shapes and dtypes"


def _declared_work(
    ck: Checkpoint, declared_steps: int | None, max_steps: int | None
) -> tuple[int, int | None, str]:
    """``(steps, work, reason)``: inner steps from the metadata, times the examples per step."""
    steps = ck.step
    if declared_steps is not None and declared_steps != steps:
        return steps, None, f"declared {declared_steps} steps, metadata says {steps}"
    if steps < 1 or (max_steps is not None and steps > max_steps):
        return steps, None, f"{steps} inner steps is outside 1..{max_steps or 'inf'}"
    try:
        batch = int(json.loads(ck.extra["train"])["batch_size"])
    except (KeyError, ValueError, TypeError) as exc:
        return steps, None, f"no usable 'train' metadata ({exc!r}); save with training_checkpoint"
    if batch < 1:
        return steps, None, f"batch_size {batch} in the 'train' metadata must be >= 1"
    per_example = ck.config.seq_len if isinstance(ck.config, TransformerConfig) else 1
    work = steps * batch * per_example
    return steps, work, f"{steps} steps x {batch} x {per_example} = {work}"


def _norm(tensors: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.double().square().sum()) for t in tensors.values()))
