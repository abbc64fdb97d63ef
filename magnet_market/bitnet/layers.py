"""BitLinear layers: the plain PyTorch reference used for training, and the packed-kernel one.

``BitLinear`` (reference) keeps full-precision latent weights and fake-quantizes in the forward
pass with the straight-through estimator; ``BitLinearKernel`` holds 2-bit packed weights and one
scale and runs the native kernel. Models pick one with their config's ``use_kernel`` flag
(after microsoft/BitNet ``gpu/model.py``). Both normalize the input with a parameter-free RMSNorm
first, as BitNet b1.58 does before activation quantization.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from magnet_market.bitnet import kernel, quant


def rms_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Parameter-free RMSNorm over the last dim."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


class RMSNorm(nn.Module):
    """RMSNorm with a learned gain (used outside BitLinear, e.g. before the LM head)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.eps) * self.weight


class NormLinear(nn.Linear):
    """Full-precision baseline of the same shape: RMSNorm then ``nn.Linear`` (no quantization)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(rms_norm(x), self.weight)


class BitLinear(nn.Linear):
    """Reference BitLinear: RMSNorm, int8 absmax activations, absmean ternary weights, STE.

    Args:
        in_features: K.
        out_features: N.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)  # BitNet b1.58 drops biases

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., K) -> (..., N)
        x = rms_norm(x)
        x_q = quant.ste(x, quant.activation_fake_quant(x))
        w_q = quant.ste(self.weight, quant.weight_fake_quant(self.weight))
        return F.linear(x_q, w_q)


class BitLinearKernel(nn.Module):
    """Inference BitLinear on packed 2-bit weights and the native kernel (no gradients).

    Buffers: ``weight_packed`` ``(N, padded_k(K) // 4)`` uint8 and ``weight_scale`` (0-d float32,
    the absmean scale ``s_w``: ``W ≈ W_int / s_w``).
    """

    # Registered in __init__; declared so they read as tensors, not Module.__getattr__'s union.
    weight_packed: torch.Tensor
    weight_scale: torch.Tensor

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        kq = quant.padded_k(in_features) // 4
        self.register_buffer(
            "weight_packed", torch.ones(out_features, kq, dtype=torch.uint8) * 0x55
        )
        self.register_buffer("weight_scale", torch.ones((), dtype=torch.float32))
        self.threads: int | None = None  # None: torch.get_num_threads()

    @classmethod
    def from_bitlinear(cls, layer: BitLinear) -> BitLinearKernel:
        """Quantize and pack a trained reference layer (the exporter's per-layer step)."""
        out = cls(layer.in_features, layer.out_features)
        w_int, s = quant.ternarize(layer.weight.detach().float())
        out.weight_packed.copy_(quant.pack_ternary(w_int.to(torch.int8)))
        out.weight_scale.copy_(s)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., K) -> (..., N)
        x = rms_norm(x.float())
        return kernel.bitlinear(
            x,
            self.weight_packed,
            float(self.weight_scale),
            self.out_features,
            threads=self.threads,
        )

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed=2bit"


def make_linear(
    in_features: int, out_features: int, *, bitnet: bool, use_kernel: bool
) -> nn.Linear | BitLinearKernel:
    """The one switch between the fp baseline, the reference BitLinear and the kernel layer."""
    if use_kernel and not bitnet:
        raise ValueError("use_kernel=True needs bitnet=True (the kernel runs ternary weights)")
    if use_kernel:
        return BitLinearKernel(in_features, out_features)
    if bitnet:
        return BitLinear(in_features, out_features)
    return NormLinear(in_features, out_features)


def init_linear(layer: nn.Module, std: float | None = None) -> None:
    """Normal init scaled by fan-in (GPT-2 style) for trainable linears; kernel layers skip."""
    if isinstance(layer, nn.Linear):
        nn.init.normal_(layer.weight, std=std or 1.0 / math.sqrt(layer.in_features))
