"""The flat experiment configuration: every trainable setting under one dotted key.

``model.*`` are the fields of the model config (``model.kind`` says which),
``train.batch_size`` the batch, ``train.augment`` the share of augmented training examples,
``optim.*`` the AdamW and schedule fields (``betas`` split into ``optim.beta1`` and
``optim.beta2``). A flat map makes an experiment a readable diff (``optim.lr=0.006``) and lets
the search space name any setting without nesting rules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from magnet_market.bitnet.model import ModelConfig, config_from_dict, config_to_dict
from magnet_market.bitnet.train import OptimConfig, TrainConfig

Config = dict[str, bool | int | float | str]


TRAIN_KEYS = ("train.batch_size", "train.augment")


def flatten(model: ModelConfig, batch_size: int, optim: OptimConfig) -> Config:
    """The flat configuration of a model config, a batch size and optimizer settings (no
    augmentation: a knob a sweep may turn on)."""
    flat: Config = {f"model.{k}": v for k, v in config_to_dict(model).items() if k != "use_kernel"}
    flat["train.batch_size"] = batch_size
    flat["train.augment"] = 0.0
    for f in dataclasses.fields(optim):
        if f.name == "betas":
            flat["optim.beta1"], flat["optim.beta2"] = optim.betas
        else:
            flat[f"optim.{f.name}"] = getattr(optim, f.name)
    return flat


def build(
    config: Config, *, steps: int | None, seconds: float | None, seed: int
) -> tuple[ModelConfig, TrainConfig]:
    """Engine configs for ``config`` (``ValueError`` saying what is wrong if it is invalid)."""
    model = {k.removeprefix("model."): v for k, v in config.items() if k.startswith("model.")}
    optim = {k.removeprefix("optim."): v for k, v in config.items() if k.startswith("optim.")}
    unknown = sorted(
        k for k in config if not k.startswith(("model.", "optim.")) and k not in TRAIN_KEYS
    )
    missing = sorted(set(TRAIN_KEYS) - set(config))
    if unknown or missing:
        raise ValueError(f"unknown keys {unknown} or missing {missing} in the configuration")
    try:
        optim_cfg = _optim_config(optim)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"bad optim.* settings: {exc}") from None
    train_cfg = TrainConfig(
        steps=steps,
        time_budget=seconds,
        batch_size=int(config["train.batch_size"]),
        augment=float(config["train.augment"]),
        seed=seed,
        optim=optim_cfg,
    )
    return config_from_dict(model), train_cfg


def _optim_config(settings: Config) -> OptimConfig:
    """``OptimConfig`` of the ``optim.*`` settings (keys without the prefix; ``beta1`` and
    ``beta2`` become ``betas``). ``KeyError`` or ``TypeError`` if they do not fit it."""
    rest = {k: v for k, v in settings.items() if k not in ("beta1", "beta2")}
    # Any: the flat map's scalars go to OptimConfig by name, unchecked here as before; it
    # rejects an unknown name (TypeError) and out-of-range values itself.
    kwargs: dict[str, Any] = {**rest, "betas": (settings["beta1"], settings["beta2"])}
    return OptimConfig(**kwargs)


def apply(base: Config, changes: Config) -> Config:
    """``base`` with ``changes`` applied (keys must exist: a typo is an error, not a new key)."""
    unknown = sorted(set(changes) - set(base))
    if unknown:
        raise ValueError(f"unknown configuration keys {unknown}")
    return {**base, **changes}


def diff(base: Config, config: Config) -> Config:
    """The entries of ``config`` that differ from ``base``."""
    return {k: v for k, v in config.items() if base.get(k) != v}


def describe(changes: Config) -> str:
    """``optim.lr=0.0062, train.batch_size=32``: a diff as one short line."""
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(changes.items())) or "no change"


def _short(value: bool | int | float | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
