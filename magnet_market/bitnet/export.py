"""Export a trained model to the packed inference form and load it back.

Every ``BitLinear`` weight becomes ``weight_packed`` (2 bits per weight, 4 per byte, see
``quant.pack_ternary``) and ``weight_scale`` (one float32 per tensor); everything else
(embeddings, norms, head) stays float32. The result is a ``packed`` checkpoint: safetensors plus
the config (with ``use_kernel=True``) in its metadata. The same quantizers as training are used,
so the packed model computes what the reference layer computes (up to float rounding order).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from magnet_market.bitnet.checkpoint import Checkpoint, load_into
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.layers import BitLinear, BitLinearKernel
from magnet_market.bitnet.model import build_model, model_config


def to_kernel_model(model: nn.Module) -> nn.Module:
    """A ``use_kernel=True`` copy of a trained reference model (weights quantized and packed)."""
    cfg = model_config(model)
    if not cfg.bitnet:
        raise ValueError(
            "only BitNet models (bitnet=True) can be packed; this one is full precision"
        )
    if cfg.use_kernel:
        return model
    packed = build_model(dataclasses.replace(cfg, use_kernel=True))
    src = dict(model.named_modules())
    with torch.no_grad():
        for name, mod in packed.named_modules():
            if isinstance(mod, BitLinearKernel):
                ref = src[name]
                assert isinstance(ref, BitLinear), name
                new = BitLinearKernel.from_bitlinear(ref)
                mod.weight_packed.copy_(new.weight_packed)
                mod.weight_scale.copy_(new.weight_scale)
        own = packed.state_dict()
        for k, v in model.state_dict().items():
            if k in own:  # embeddings, norms, head
                own[k].copy_(v)
    return packed.eval()


def export_packed(
    model: nn.Module, *, step: int = 0, parent_cid: str = "", metrics: dict | None = None
) -> Checkpoint:
    """The ``packed`` checkpoint of a trained (reference) or already packed model."""
    packed = to_kernel_model(model)
    return Checkpoint(
        tensors={f"model.{k}": v for k, v in packed.state_dict().items()},
        config=model_config(packed),
        kind="packed",
        step=step,
        parent_cid=parent_cid,
        metrics=dict(metrics or {}),
    )


def load_model(ckpt: Checkpoint) -> nn.Module:
    """The model a checkpoint holds: reference/fp for ``train``, kernel layers for ``packed``."""
    want_kernel = ckpt.kind == "packed"
    if bool(ckpt.config.use_kernel) != want_kernel:
        raise CheckpointError(
            f"{ckpt.kind} checkpoint with use_kernel={ckpt.config.use_kernel} is inconsistent"
        )
    model = build_model(ckpt.config)
    load_into(model, ckpt)
    if want_kernel:
        for name, mod in model.named_modules():
            if not isinstance(mod, BitLinearKernel):
                continue
            p = mod.weight_packed
            if int((p & (p >> 1) & 0x55).count_nonzero()) != 0:
                raise CheckpointError(f"{name}: packed weights contain the invalid 2-bit code 3")
            s = float(mod.weight_scale)
            if not (math.isfinite(s) and s > 0):
                raise CheckpointError(f"{name}: weight_scale must be finite and > 0, got {s}")
    return model.eval()
