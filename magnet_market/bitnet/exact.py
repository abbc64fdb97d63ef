"""Evaluation every CPU agrees on: the model judges use to score a checkpoint.

A round's report must come out byte for byte the same on a validator's CPU as on the
coordinator's, or honest validators vote against an honest round. Float32 evaluation does not
give that: torch picks SIMD kernels by CPU (``ATEN_CPU_CAPABILITY``), and their reductions add in
different orders and may fuse multiply-adds, so losses differ in the sixth digit and norms in the
last bit. The judging model therefore:

* runs every ternary matmul through the native integer kernel (exact on the portable, AVX2 and
  AVX-512 paths alike), with activation quantization and rescaling done element by element in
  float64 (each an IEEE-rounded operation, identical everywhere);
* computes the weight scales and RMS norms with :func:`fixed_sum`, a pairwise sum whose order
  does not depend on the CPU;
* runs the rest (attention softmax, the full-precision head, the loss) in float64, where the
  CPUs' remaining differences are a few units in the 16th digit. Callers round the metrics far
  above that (``diloco.verify.METRIC_DECIMALS``) before any arithmetic on them.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from magnet_market.bitnet import kernel, quant
from magnet_market.bitnet.layers import BitLinear


def fixed_sum(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sum over ``dim`` in a fixed pairwise order (element-wise adds only), so the result is the
    same bits on every CPU and SIMD path; ``dim`` is kept with size 1."""
    x = x.movedim(dim, -1)
    while x.shape[-1] > 1:
        if x.shape[-1] % 2:
            x = torch.cat([x, torch.zeros_like(x[..., :1])], dim=-1)
        x = x[..., 0::2] + x[..., 1::2]
    return x.movedim(-1, dim)


def square_sum(x: torch.Tensor) -> float:
    """``sum(x ** 2)`` of any float tensor, in float64 (squares of float32 values are exact
    there) and in a fixed order: the same value on every CPU."""
    flat = x.detach().reshape(-1).double()
    if flat.numel() == 0:
        return 0.0
    return float(fixed_sum(flat.square()))


def _rms_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``layers.rms_norm`` with a CPU-independent mean and square root."""
    mean_sq = fixed_sum(x.square()) / x.shape[-1]
    return x / torch.sqrt(mean_sq + eps)


class ExactBitLinear(nn.Module):
    """A trained ``BitLinear`` evaluated through the integer kernel, in float64 around it."""

    weight_packed: torch.Tensor
    weight_scale: torch.Tensor

    def __init__(self, layer: BitLinear) -> None:
        super().__init__()
        self.in_features = layer.in_features
        self.out_features = layer.out_features
        w = layer.weight.detach().double()
        mean_abs = fixed_sum(w.abs().reshape(-1)) / w.numel()
        scale = mean_abs.clamp(min=quant.EPS).reciprocal()
        w_int = (w * scale).round().clamp(-1, 1).to(torch.int8)
        self.register_buffer("weight_packed", quant.pack_ternary(w_int))
        self.register_buffer("weight_scale", scale.reshape(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., K) -> (..., N)
        lead, k = x.shape[:-1], x.shape[-1]
        x = _rms_norm(x.double().reshape(-1, k))
        # quant.activation_scale, with the same order of operations, in float64
        x_scale = x.abs().amax(dim=-1, keepdim=True).clamp(min=quant.EPS).reciprocal() * quant.QMAX
        x_int = (x * x_scale).round().clamp(-quant.QMAX - 1, quant.QMAX).to(torch.int8)
        padded = torch.zeros(x_int.shape[0], quant.padded_k(k), dtype=torch.int8)
        padded[:, :k] = x_int
        acc = kernel.gemm_i8(padded, self.weight_packed)
        y = acc.double() / (x_scale * self.weight_scale)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, exact"


def _inputs_in_float64(_: nn.Module, args: tuple) -> tuple:
    """Float inputs (features, series windows) enter the float64 model as float64."""
    return tuple(a.double() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def exact_model(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` for judging, its ``BitLinear`` layers on the integer kernel
    (the original is left untouched)."""
    judged = copy.deepcopy(model).double().eval()
    judged.register_forward_pre_hook(_inputs_in_float64)
    for parent in list(judged.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BitLinear):
                setattr(parent, name, ExactBitLinear(child))
    return judged
