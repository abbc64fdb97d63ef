"""BitNet b1.58 quantizers, shared by the trainer (fake quantization) and the exporter (packing).

Formulas follow "The Era of 1-bit LLMs" (Ma et al., 2024, arXiv:2402.17764) and the reference
code in microsoft/BitNet ``gpu/model.py`` / "Training Tips, Code and FAQ":

* weights: absmean ternary. ``s_w = 1 / mean(|W|)``; ``W_int = clamp(round(W * s_w), -1, 1)``.
* activations: per-token absmax int8. ``s_x = 127 / max(|x|)``; ``x_int = clamp(round(x * s_x))``.
* ``y = (x_int @ W_int^T) / (s_x * s_w)``; during training the quantized values are used in the
  forward pass and the straight-through estimator passes gradients to the latent fp32 weights.

``round`` is round-half-to-even (``torch.round``), which the C kernel reproduces bit for bit.
Packed layout (see ``pack_ternary``): K is padded to a multiple of ``BLOCK`` = 256; every block of
256 weights becomes 64 bytes, byte ``j`` holding the 2-bit codes ``w + 1`` of the weights at
``j`` (bits 7-6), ``j + 64`` (bits 5-4), ``j + 128`` (bits 3-2) and ``j + 192`` (bits 1-0), so one
shift and one mask give 64 consecutive weights (AVX-512) or 32 (AVX2).
"""

from __future__ import annotations

import torch

EPS = 1e-5  # floor of the scales' denominators: an all-zero row quantizes to zeros, not NaN
QMAX = 127  # int8 activations use [-128, 127]; absmax scaling maps the largest |x| to 127
BLOCK = 256  # weights per packed block; K is padded up to a multiple of this


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """Per-tensor absmean scale ``1 / mean(|W|)`` (0-d float32 tensor)."""
    return w.abs().mean().clamp(min=EPS).reciprocal()


def ternarize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmean ternary weights: ``(W_int in {-1, 0, 1} as float, scale)``; ``W ≈ W_int / scale``."""
    s = weight_scale(w)
    return (w * s).round().clamp(-1, 1), s


def activation_scale(x: torch.Tensor) -> torch.Tensor:
    """Per-token absmax scale ``127 / max(|x|)`` over the last dim, shape ``(..., 1)``.

    Written as ``reciprocal * 127``: that is what torch evaluates for ``127 / tensor`` (the
    microsoft/BitNet code), and the C kernel repeats it exactly; ``127 / a`` can differ by 1 ulp.
    """
    return x.abs().amax(dim=-1, keepdim=True).clamp(min=EPS).reciprocal() * QMAX


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token absmax int8: ``(x_int in [-128, 127] as float, scale (..., 1))``."""
    s = activation_scale(x)
    return (x * s).round().clamp(-QMAX - 1, QMAX), s


def weight_fake_quant(w: torch.Tensor) -> torch.Tensor:
    """Ternary weights dequantized back to float: ``W_int / s_w``."""
    q, s = ternarize(w)
    return q / s


def activation_fake_quant(x: torch.Tensor) -> torch.Tensor:
    """Int8 activations dequantized back to float: ``x_int / s_x``."""
    q, s = quantize_activations(x)
    return q / s


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator: forward value ``q``, gradient of the identity w.r.t. ``x``."""
    return x + (q - x).detach()


def padded_k(k: int) -> int:
    """``k`` rounded up to a multiple of :data:`BLOCK`."""
    return (k + BLOCK - 1) // BLOCK * BLOCK


def pack_ternary(w_int: torch.Tensor) -> torch.Tensor:
    """Pack ternary weights ``(N, K)`` into ``(N, padded_k(K) // 4)`` uint8, 2 bits each.

    Padding weights are 0 (code 1); padded activations are 0, so they never change a sum.
    """
    if w_int.dim() != 2:
        raise ValueError(f"pack_ternary takes a 2-D (N, K) weight, got shape {tuple(w_int.shape)}")
    if not bool(((w_int == -1) | (w_int == 0) | (w_int == 1)).all()):
        raise ValueError("pack_ternary takes values in {-1, 0, 1}; ternarize() the weight first")
    n, k = w_int.shape
    kp = padded_k(k)
    codes = torch.ones(n, kp, dtype=torch.uint8)
    codes[:, :k] = (w_int + 1).to(torch.uint8)
    c = codes.view(n, kp // BLOCK, 4, BLOCK // 4)  # (N, blocks, group, j)
    packed = (c[:, :, 0] << 6) | (c[:, :, 1] << 4) | (c[:, :, 2] << 2) | c[:, :, 3]
    return packed.reshape(n, kp // 4).contiguous()


def unpack_ternary(packed: torch.Tensor, k: int) -> torch.Tensor:
    """Inverse of :func:`pack_ternary`: ``(N, Kp // 4)`` uint8 to ``(N, k)`` int8 in {-1, 0, 1}."""
    n, kq = packed.shape
    if kq * 4 != padded_k(k):
        raise ValueError(f"packed width {kq} does not match k={k}; expected {padded_k(k) // 4}")
    p = packed.view(n, kq // (BLOCK // 4), 1, BLOCK // 4)
    shifts = torch.tensor([6, 4, 2, 0], dtype=torch.uint8).view(1, 1, 4, 1)
    codes = (p >> shifts) & 3  # (N, blocks, group, j)
    return (codes.reshape(n, kq * 4)[:, :k].to(torch.int8) - 1).contiguous()
