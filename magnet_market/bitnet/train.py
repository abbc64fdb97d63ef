"""The BitNet training loop as a library function.

Reads top to bottom: configs, schedule, data protocol, then ``train``. Recipe after
"The Era of 1-bit LLMs: Training Tips, Code and FAQ" (microsoft/unilm, 2024) and the BitNet
b1.58 2B4T report (arXiv:2504.12285): AdamW with a two-stage schedule. Stage 1 uses a high
learning rate with cosine decay and cosine-decayed weight decay (peak 0.1); at the stage split
the learning rate drops abruptly ("cooldown") and decays again, and weight decay is switched off
(latent weights of ternary models need no more pull toward 0 once their signs have settled).

Determinism: the batch of step ``s`` is drawn from a generator seeded with ``(seed, s)``, so a
run resumed from a checkpoint (model + AdamW state + step) replays exactly the same batches and
gives the same loss curve as an uninterrupted one. Time-budget runs (``time_budget``) trade that
for a fair fixed-wall-clock comparison (progress = elapsed / budget).
"""

from __future__ import annotations

import dataclasses
import json
import math
import reprlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from magnet_market.bitnet.checkpoint import Checkpoint, load_into
from magnet_market.bitnet.errors import BitNetError, CheckpointError
from magnet_market.bitnet.model import model_config


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and the two-stage schedule (fractions are of the peak ``lr`` / of training)."""

    lr: float = 3e-3  # BitNet tolerates (and wants) a higher lr than an fp model of its size
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1  # stage-1 peak, as in BitNet b1.58 2B4T; 0 in stage 2
    warmup_steps: int = 10
    stage_split: float = 0.5  # progress at which stage 2 (cooldown) starts
    stage1_final: float = 0.6  # lr at the end of stage 1, fraction of peak
    stage2_lr: float = 0.3  # lr right after the abrupt drop, fraction of peak
    final_lr: float = 0.03  # lr at the end of training, fraction of peak
    grad_clip: float = 1.0  # max global grad norm; 0 disables

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be in [0, 1), got {self.betas}")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.stage_split <= 1.0:
            raise ValueError(f"stage_split must be in [0, 1], got {self.stage_split}")
        if not self.final_lr <= self.stage2_lr <= self.stage1_final <= 1.0:
            raise ValueError(
                "need final_lr <= stage2_lr <= stage1_final <= 1 (fractions of the peak lr); "
                f"got {self.final_lr}, {self.stage2_lr}, {self.stage1_final}"
            )
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0 (0 disables), got {self.grad_clip}")


def optim_with(changes: Mapping[str, Any]) -> OptimConfig:
    """The engine's recipe with some fields changed (a task's or a caller's ``optim`` settings,
    named as :class:`OptimConfig` names them; ``betas`` a pair).

    Raises:
        ValueError: an unknown field, a value of the wrong type, or one out of range.
    """
    known = [f.name for f in dataclasses.fields(OptimConfig)]
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValueError(f"unknown optim settings {unknown}; known: {', '.join(known)}")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "warmup_steps":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"warmup_steps must be an integer, got {value!r}")
            values[name] = value
        elif name == "betas":
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise ValueError(f"betas must be a pair of numbers, got {value!r}")
            values[name] = tuple(_number(name, v) for v in value)
        else:
            values[name] = _number(name, value)
    return dataclasses.replace(OptimConfig(), **values)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {reprlib.repr(value)}")
    return number


@dataclass(frozen=True)
class TrainConfig:
    """What to run: length, batch, seed, evaluation and checkpoint cadence."""

    steps: int | None = 200  # fixed step count (reproducible); None: use time_budget
    time_budget: float | None = None  # seconds of training (fair speed/quality comparisons)
    batch_size: int = 16
    seed: int = 0
    augment: float = 0.0  # share of training examples the task's augmentation transforms
    eval_every: int = 0  # steps between evaluations; 0: only at the end
    checkpoint_every: int = 0  # steps between checkpoints; 0: none
    checkpoint_dir: Path | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    # Where these steps sit in a longer schedule: step ``s`` of this call is step
    # ``schedule_offset + s`` of a ``schedule_steps``-step schedule (None: this call's ``steps``).
    # (``benchmarks/protocol.py`` measures DiLoCo workers whose round r is steps r*H..(r+1)*H.)
    schedule_offset: int = 0
    schedule_steps: int | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.time_budget is None):
            raise ValueError("set exactly one of steps and time_budget")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be > 0 seconds, got {self.time_budget}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.augment <= 1.0:
            raise ValueError(f"augment must be in [0, 1], got {self.augment}")
        if self.checkpoint_every and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir")
        if self.schedule_offset < 0:
            raise ValueError(f"schedule_offset must be >= 0, got {self.schedule_offset}")
        if self.schedule_offset and self.schedule_steps is None:
            raise ValueError("schedule_offset needs schedule_steps (the whole schedule's length)")
        if self.schedule_steps is not None:
            if self.steps is None:
                raise ValueError("schedule_steps needs a step count (steps), not a time budget")
            if self.schedule_offset + self.steps > self.schedule_steps:
                raise ValueError(
                    f"steps {self.schedule_offset}..{self.schedule_offset + self.steps} run past "
                    f"the schedule's {self.schedule_steps} steps"
                )

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["checkpoint_dir"] = None if self.checkpoint_dir is None else str(self.checkpoint_dir)
        return json.dumps(d, sort_keys=True)


def schedule(step: int, progress: float, cfg: OptimConfig) -> tuple[float, float]:
    """``(lr, weight_decay)`` at ``step`` / ``progress`` in [0, 1] of the two-stage recipe."""

    def cos(a: float, b: float, t: float) -> float:  # a -> b as t goes 0 -> 1
        return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))

    split = cfg.stage_split
    if progress < split:
        t = progress / split
        lr = cfg.lr * cos(1.0, cfg.stage1_final, t)
        wd = cfg.weight_decay * cos(1.0, 0.0, t)
    else:
        t = (progress - split) / (1.0 - split) if split < 1.0 else 1.0
        lr = cfg.lr * cos(cfg.stage2_lr, cfg.final_lr, t)
        wd = 0.0
    if step < cfg.warmup_steps:
        lr *= (step + 1) / cfg.warmup_steps
    return lr, wd


class TaskData(Protocol):
    """What ``train`` needs from a task (``tasks.TinyLMData``, ``tasks.DigitsData``).

    A task whose inputs have label-preserving transforms (digits: small shifts) also defines
    ``augment(x, share, generator) -> x``, which ``TrainConfig.augment`` turns on.
    """

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def evaluate(self, model: nn.Module) -> dict[str, float]: ...


#: ``augment(x, share, generator) -> x``, the optional part of a :class:`TaskData`.
Augment = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]


def _time_budget(cfg: TrainConfig) -> float:
    """The budget of a run without a step count (``TrainConfig`` sets exactly one of the two)."""
    if cfg.time_budget is None:
        raise ValueError("set exactly one of steps and time_budget")
    return cfg.time_budget


class TrainingDivergedError(BitNetError, RuntimeError):
    """The loss became NaN or exploded (> 100): fail fast instead of training on garbage."""


@dataclass
class TrainResult:
    """Per-step loss and lr, the final metrics, steps done and wall-clock seconds."""

    losses: list[float]
    lrs: list[float]
    metrics: dict[str, float]
    step: int
    seconds: float
    checkpoints: list[Path]
    # the AdamW state at the end (``optimizer_tensors``), when asked for with ``keep_optimizer``
    optimizer_state: dict[str, torch.Tensor] = field(default_factory=dict)


def make_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (linears, embeddings) only; norms and biases: none."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    other = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, foreach=False)


def optimizer_tensors(model: nn.Module, opt: torch.optim.AdamW) -> dict[str, torch.Tensor]:
    """AdamW state keyed by parameter name: ``optim.<name>.{step,exp_avg,exp_avg_sq}``."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for p, st in opt.state.items():
        for key in ("step", "exp_avg", "exp_avg_sq"):
            out[f"optim.{names[id(p)]}.{key}"] = torch.as_tensor(st[key]).detach().clone()
    return out


def load_optimizer_tensors(
    model: nn.Module, opt: torch.optim.AdamW, tensors: dict[str, torch.Tensor]
) -> None:
    """Inverse of :func:`optimizer_tensors` (shapes checked)."""
    for name, p in model.named_parameters():
        keys = [f"optim.{name}.{k}" for k in ("step", "exp_avg", "exp_avg_sq")]
        if not all(k in tensors for k in keys):
            continue
        step, m, v = (tensors[k] for k in keys)
        if m.shape != p.shape or v.shape != p.shape:
            raise CheckpointError(f"optimizer state of {name} has shape {tuple(m.shape)}")
        opt.state[p] = {
            "step": step.to(torch.float32).clone(),
            "exp_avg": m.to(p.dtype).clone(),
            "exp_avg_sq": v.to(p.dtype).clone(),
        }


def _batch_generator(seed: int, step: int) -> torch.Generator:
    # One generator per step: resuming at step s needs no saved RNG state.
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def train(
    model: nn.Module,
    data: TaskData,
    cfg: TrainConfig,
    *,
    resume: Checkpoint | None = None,
    parent_cid: str = "",
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    keep_optimizer: bool = False,
) -> TrainResult:
    """Train ``model`` in place on ``data``.

    Args:
        model: a ``Transformer`` or ``MLPClassifier`` (reference or fp layers, not ``use_kernel``).
        data: a :class:`TaskData`.
        cfg: length, batch, seed, cadence and optimizer settings.
        resume: a ``train`` checkpoint of this run to continue from (model, AdamW state, step).
        parent_cid: recorded in every checkpoint written.
        on_eval: called with ``(step, metrics)`` after each evaluation.
        keep_optimizer: return the final AdamW state too (a contributor carries its moments
            into its next round).

    Returns:
        A :class:`TrainResult`; losses/lrs cover the steps run by this call.
    """
    config = getattr(model, "config", None)
    if config is None or getattr(config, "use_kernel", False):
        raise ValueError("train() needs a Transformer/MLPClassifier built with use_kernel=False")
    augment: Augment | None = None
    if cfg.augment:
        # looked up, not declared in TaskData: wrappers forward it with __getattr__
        augment = getattr(data, "augment", None)
        if augment is None:
            raise ValueError(f"augment={cfg.augment}: this task has no augmentation; set it to 0")
    opt = make_optimizer(model, cfg.optim)
    start = 0
    if resume is not None:
        if resume.kind != "train":
            raise ValueError("resume needs a 'train' checkpoint (packed ones cannot be trained)")
        load_into(model, resume)
        load_optimizer_tensors(model, opt, resume.tensors)
        start = resume.step
        if cfg.steps is not None and start > cfg.steps:
            raise ValueError(f"checkpoint step {start} is past steps={cfg.steps}")
    model.train()
    losses: list[float] = []
    lrs: list[float] = []
    ckpts: list[Path] = []
    metrics: dict[str, float] = {}
    t0 = time.perf_counter()
    step = start

    def done() -> bool:
        if cfg.steps is not None:
            return step >= cfg.steps
        return time.perf_counter() - t0 >= _time_budget(cfg)

    evaluated_at = -1
    while not done():
        at = cfg.schedule_offset + step
        if cfg.steps is not None:
            progress = at / (cfg.schedule_steps or cfg.steps)
        else:
            progress = (time.perf_counter() - t0) / _time_budget(cfg)
        lr, wd = schedule(at, progress, cfg.optim)
        opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = lr
        opt.param_groups[0]["weight_decay"] = wd
        generator = _batch_generator(cfg.seed, step)
        x, y = data.get_batch("train", cfg.batch_size, generator)
        if augment is not None:
            x = augment(x, cfg.augment, generator)
        _, loss = model(x, y)
        lv = float(loss.detach())
        if not math.isfinite(lv) or lv > 100:
            raise TrainingDivergedError(f"FAIL: loss {lv} at step {step}; lower the lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip, foreach=False)
        opt.step()
        step += 1
        losses.append(lv)
        lrs.append(lr)
        if cfg.eval_every and step % cfg.eval_every == 0 and not done():
            metrics = data.evaluate(model)
            evaluated_at = step
            if on_eval:
                on_eval(step, metrics)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            if cfg.checkpoint_dir is None:  # TrainConfig refuses this; checked for the types
                raise ValueError("checkpoint_every needs checkpoint_dir")
            ck = training_checkpoint(model, opt, step, parent_cid, metrics, cfg)
            ckpts.append(ck.save(Path(cfg.checkpoint_dir) / f"step{step:07d}.safetensors"))
    # A time budget can run out right after a periodic evaluation: don't evaluate that step twice.
    if evaluated_at != step:
        metrics = data.evaluate(model)
        if on_eval:
            on_eval(step, metrics)
    kept = optimizer_tensors(model, opt) if keep_optimizer else {}
    return TrainResult(losses, lrs, metrics, step, time.perf_counter() - t0, ckpts, kept)


def training_checkpoint(
    model: nn.Module,
    opt: torch.optim.AdamW | None,
    step: int,
    parent_cid: str = "",
    metrics: dict[str, float] | None = None,
    cfg: TrainConfig | None = None,
) -> Checkpoint:
    """A ``train`` checkpoint: model weights, optionally AdamW state and the train config."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if opt is not None:
        tensors.update(optimizer_tensors(model, opt))
    return Checkpoint(
        tensors=tensors,
        config=model_config(model),
        kind="train",
        step=step,
        parent_cid=parent_cid,
        metrics=dict(metrics or {}),
        extra={} if cfg is None else {"train": cfg.to_json()},
    )
