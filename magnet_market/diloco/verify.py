"""Verification of one submitted checkpoint before anything is merged.

Files come from strangers, so every rule is checked on the bytes the coordinator fetched: the
cheap structural checks first (safetensors only, kind, model config, tensor names/shapes/dtypes,
parent CID, finite values, pseudo-gradient norm, declared work), then the expensive one:
evaluation on the coordinator's held-out split, compared with the contributor's claim and with
the parent. A failure is a :class:`Check` with a reason in the :class:`Verdict`, never an
exception: the round report shows every submission, accepted or not.

Checkpoints are streamed (``_reader.TensorFile``): the header and metadata are checked without
loading tensors, values are read one tensor at a time beside the parent's, and optimizer state
is never read. Beyond the model being evaluated, memory holds about one tensor per open file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.checkpoint import Checkpoint
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.exact import exact_model, square_sum
from magnet_market.bitnet.model import ModelConfig, TransformerConfig, build_model
from magnet_market.bitnet.safetensors_io import TensorSpec
from magnet_market.diloco._reader import MODEL_PREFIX, TensorFile, load_into
from magnet_market.diloco.published import PublishedSearch, published_search

Evaluate = Callable[[nn.Module], dict[str, float]]  # a task's ``evaluate`` (held-out split)

#: Measured metrics are rounded to this many decimals before any arithmetic on them: far above
#: the last-digit differences left between CPUs (``bitnet.exact``), so every judge gets the same
#: numbers, the same credits and the same report bytes.
METRIC_DECIMALS = 6


def judged_metrics(model: nn.Module, evaluate: Evaluate) -> dict[str, float]:
    """The task's metrics of ``model`` as every judge measures them: evaluated through the
    integer kernel in float64 (``bitnet.exact``), rounded to :data:`METRIC_DECIMALS`."""
    return {k: round(float(v), METRIC_DECIMALS) for k, v in evaluate(exact_model(model)).items()}


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
    search: PublishedSearch = field(default_factory=PublishedSearch)  # ``published.py``

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
    """The round's parent as verification needs it: its file, CID, config, specs, norm, metric.

    The weights stay in the file: each verification streams them beside the submission's.
    """

    cid: str
    config: ModelConfig
    path: Path
    specs: dict[str, TensorSpec]  # the ``model.`` tensors
    norm: float  # ||parent weights||, the scale of the update bound
    metric: float

    @classmethod
    def measure(
        cls, path: str | Path, cid: str, config: ModelConfig, evaluate: Evaluate, metric: Metric
    ) -> RoundParent:
        """Check the parent checkpoint fits ``config`` and evaluate it once for the whole round."""
        model = build_model(config)
        with TensorFile(path) as f:
            checkpoint.from_metadata(f.metadata)  # raises unless a MAGNET checkpoint
            load_into(model, f)
            specs = f.model_specs()
        state = model.state_dict()
        norm = math.sqrt(sum(square_sum(state[k]) for k in sorted(state)))
        measured = judged_metrics(model, evaluate)[metric.name]
        return cls(cid, config, Path(path), specs, norm, measured)


@dataclass
class _Findings:
    """The checks recorded so far on one submission and the numbers they found."""

    sub: Submission
    checks: list[Check] = field(default_factory=list)
    found: dict = field(default_factory=dict)

    def record(self, name: str, ok: bool, reason: str) -> bool:
        self.checks.append(Check(name, ok, reason))
        return ok

    def verdict(self) -> Verdict:
        return Verdict(self.sub.cid, self.sub.author, tuple(self.checks), **self.found)


def verify(sub: Submission, parent: RoundParent, evaluate: Evaluate, rules: VerifyRules) -> Verdict:
    """Run every rule on ``sub``; stops at the first structural failure (nothing to evaluate)."""
    out = _Findings(sub)
    if sub.fetch_error is not None:
        out.record("fetch", False, sub.fetch_error)
        return out.verdict()
    try:
        f = TensorFile(sub.path)
    except (CheckpointError, OSError) as exc:
        out.record("safetensors", False, str(exc))
        return out.verdict()
    with f:
        _check_file(f, parent, evaluate, rules, out)
    return out.verdict()


def _check_file(
    f: TensorFile, parent: RoundParent, evaluate: Evaluate, rules: VerifyRules, out: _Findings
) -> None:
    """The rules after the header parsed, in order; returns at the first structural failure."""
    try:
        ck = checkpoint.from_metadata(f.metadata)
    except CheckpointError as exc:
        out.record("safetensors", False, str(exc))
        return
    out.record("safetensors", True, "parsed as a safetensors MAGNET checkpoint (no pickle)")
    out.found["search"] = published_search(ck.extra)
    if not out.record("kind", ck.kind == "train", f"kind {ck.kind!r}, need 'train' (fp32 weights)"):
        return
    if not out.record(
        "config", ck.config == parent.config, _config_reason(ck.config, parent.config)
    ):
        return
    ok, reason = _tensors_match(f.specs, parent.specs)
    if not out.record("tensors", ok, reason):
        return
    if not out.record(
        "parent",
        ck.parent_cid == parent.cid,
        f"metadata parent_cid {ck.parent_cid!r}, round parent {parent.cid!r}",
    ):
        return
    with TensorFile(parent.path) as p:
        bad, norm = _non_finite_and_update_norm(f, p, sorted(parent.specs))
    if not out.record("finite", not bad, f"NaN/Inf in {bad}" if bad else "all values finite"):
        return
    bound = rules.max_update_ratio * parent.norm
    out.found["update_norm"] = norm
    if not out.record(
        "update_norm", norm <= bound, f"||parent - theta|| = {norm:.6g}, bound {bound:.6g}"
    ):
        return
    steps, work, reason = _declared_work(ck, out.sub.declared_steps, rules.max_steps)
    out.found.update(steps=steps, work=work)
    if not out.record("work", work is not None, reason):
        return
    model = build_model(parent.config)
    load_into(model, f)
    measured = judged_metrics(model, evaluate)[rules.metric.name]
    claimed = out.sub.claimed_metric
    if claimed is None:
        claimed = ck.metrics.get(rules.metric.name)
    improvement = rules.metric.improvement(parent.metric, measured)
    out.found.update(claimed=claimed, measured=measured, improvement=improvement)
    if claimed is None:
        out.record("claim", False, f"no claimed {rules.metric.name} in the reveal or the metadata")
    else:
        overclaim = rules.metric.improvement(measured, claimed)  # > 0: claim beats measurement
        out.record(
            "claim",
            overclaim <= rules.claim_tolerance,
            f"claimed {claimed:.6g}, measured {measured:.6g}, tolerance {rules.claim_tolerance}",
        )
    out.record(
        "not_worse",
        improvement >= -rules.regression_tolerance,
        f"measured {measured:.6g} vs parent {parent.metric:.6g}, "
        f"tolerance {rules.regression_tolerance}",
    )


def _config_reason(got: ModelConfig, want: ModelConfig) -> str:
    if got == want:
        return "model config matches the task"
    return f"model config {got} differs from the task's {want}"


def _tensors_match(got: dict[str, TensorSpec], want: dict[str, TensorSpec]) -> tuple[bool, str]:
    """Model tensors exactly the task's (names, shapes, dtypes); other entries only ``optim.``."""
    strays = sorted(k for k in got if not k.startswith((MODEL_PREFIX, "optim.")))
    if strays:
        return False, f"unexpected tensors {strays[:5]} (only 'model.' and 'optim.' allowed)"
    model = {k: v for k, v in got.items() if k.startswith(MODEL_PREFIX)}
    if set(model) != set(want):
        missing = sorted(map(_bare, set(want) - set(model)))
        extra = sorted(map(_bare, set(model) - set(want)))
        return False, f"missing {missing[:5]}, unexpected {extra[:5]}"
    for k, v in sorted(want.items()):
        if model[k].shape != v.shape or model[k].dtype != v.dtype:
            return False, (
                f"{_bare(k)}: {model[k].dtype} {model[k].shape}, task needs {v.dtype} {v.shape}"
            )
    return True, f"{len(want)} model tensors match the task's names, shapes and dtypes"


def _bare(name: str) -> str:
    """A tensor name without the ``model.`` prefix, as the model's state dict names it."""
    return name.removeprefix(MODEL_PREFIX)


def _non_finite_and_update_norm(
    sub: TensorFile, parent: TensorFile, names: list[str]
) -> tuple[list[str], float]:
    """Tensors holding NaN/Inf, and ||parent - theta|| (one tensor of each file at a time)."""
    bad, sq = [], 0.0
    for name in names:
        theta = sub.get(name)
        if not bool(torch.isfinite(theta).all()):
            bad.append(_bare(name))
        elif not bad:
            sq += square_sum(parent.get(name) - theta)
    return bad, math.sqrt(sq)


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
