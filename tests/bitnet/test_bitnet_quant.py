"""Quantizers and the reference BitLinear against a NumPy reference of the paper's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from magnet_market.bitnet import quant
from magnet_market.bitnet.layers import BitLinear, rms_norm


def np_ternary(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    s = np.float32(1.0) / np.maximum(np.abs(w).mean(dtype=np.float32), np.float32(1e-5))
    return np.clip(np.rint(w * s), -1, 1), s


def np_act(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.maximum(np.abs(x).max(axis=-1, keepdims=True), np.float32(1e-5))
    s = (np.float32(1.0) / a) * np.float32(127.0)  # reciprocal first, as torch and the kernel
    return np.clip(np.rint(x * s), -128, 127), s


def hard_activations() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 37, generator=g)
    x[1] = 0.0  # all-zero row
    x[2] = 3e38  # near float32 max
    x[2, ::2] = -3e38
    x[3] = 1e-40  # subnormal
    x[4, 5] = 1e6  # one outlier
    x[5] = torch.tensor([0.5, -0.5] * 18 + [127.0])  # exact halves after scaling: ties to even
    return x


def test_activation_quant_matches_numpy_reference():
    x = hard_activations()
    q, s = quant.quantize_activations(x)
    rq, rs = np_act(x.numpy())
    np.testing.assert_array_equal(q.numpy(), rq)
    np.testing.assert_array_equal(s.numpy(), rs)
    assert q.abs().max() <= 127
    assert torch.equal(q[1], torch.zeros(37)) and torch.equal(q[3], torch.zeros(37))
    assert torch.equal(q[2].abs(), torch.full((37,), 127.0))
    assert q[4].abs().max() == 127 and (q[4] == 0).sum() == 36  # the outlier takes the range


def test_ties_round_to_even():
    x = torch.tensor([[2.5, 1.5, -0.5, 127.0]])  # scale is exactly 1
    q, s = quant.quantize_activations(x)
    assert float(s) == 1.0
    assert q.tolist() == [[2.0, 2.0, -0.0, 127.0]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ternary_matches_numpy_reference(seed):
    w = torch.randn(33, 65, generator=torch.Generator().manual_seed(seed)) * 0.02
    q, s = quant.ternarize(w)
    rq, rs = np_ternary(w.numpy())
    np.testing.assert_array_equal(q.numpy(), rq)
    assert float(s) == pytest.approx(float(rs), rel=1e-6)
    assert set(q.unique().tolist()) == {-1.0, 0.0, 1.0}
    # absmean: about 0.3 of Gaussian weights fall in the zero band |w| < 0.5 * mean|w|
    assert 0.2 < float((q == 0).float().mean()) < 0.45


def test_ternary_zero_and_extreme_weights():
    q, s = quant.ternarize(torch.zeros(4, 4))
    assert torch.equal(q, torch.zeros(4, 4)) and float(s) == pytest.approx(1e5)
    w = torch.tensor([[1e30, -1e30, 1.0, 0.0]])
    q, _ = quant.ternarize(w)
    assert q.tolist() == [[1.0, -1.0, 0.0, 0.0]]


def test_fake_quant_is_dequantized_ints():
    w = torch.randn(16, 16)
    q, s = quant.ternarize(w)
    assert torch.equal(quant.weight_fake_quant(w), q / s)
    x = torch.randn(3, 16)
    qa, sa = quant.quantize_activations(x)
    assert torch.equal(quant.activation_fake_quant(x), qa / sa)


def test_ste_forward_value_and_identity_gradient():
    x = torch.randn(5, requires_grad=True)
    y = quant.ste(x, quant.activation_fake_quant(x))
    assert torch.equal(y.detach(), quant.activation_fake_quant(x.detach()))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(5))


def test_bitlinear_forward_and_gradients_follow_the_formulas():
    torch.manual_seed(0)
    layer = BitLinear(24, 10)
    x = torch.randn(2, 3, 24, requires_grad=True)
    y = layer(x)
    xn = rms_norm(x.detach())
    want = F.linear(quant.activation_fake_quant(xn), quant.weight_fake_quant(layer.weight.detach()))
    assert y.shape == (2, 3, 10)
    torch.testing.assert_close(y.detach(), want, rtol=0, atol=1e-6)
    g = torch.randn_like(y)
    y.backward(g)
    # STE: dL/dW = g^T x_q (as if the weight were not quantized); latent weights get it in fp32
    xq = quant.activation_fake_quant(xn).reshape(-1, 24)
    torch.testing.assert_close(layer.weight.grad, g.reshape(-1, 10).T @ xq, rtol=1e-5, atol=1e-5)
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_pack_roundtrip_and_layout():
    w = torch.randint(-1, 2, (7, 300), generator=torch.Generator().manual_seed(0)).to(torch.int8)
    p = quant.pack_ternary(w)
    assert p.dtype == torch.uint8 and p.shape == (7, 512 // 4)
    assert torch.equal(quant.unpack_ternary(p, 300), w)
    # layout: byte j of a block holds weights j, j+64, j+128, j+192 from the high bits down
    one = torch.zeros(1, 256, dtype=torch.int8)
    one[0, 64 + 3] = 1  # code 2 in bits 5-4 of byte 3; every other code is 1 (weight 0)
    p1 = quant.pack_ternary(one)
    assert int(p1[0, 3]) == (1 << 6) | (2 << 4) | (1 << 2) | 1
    assert int(p1[0, 0]) == 0x55


def test_pack_rejects_bad_input():
    with pytest.raises(ValueError, match="ternarize"):
        quant.pack_ternary(torch.full((2, 4), 2, dtype=torch.int8))
    with pytest.raises(ValueError, match="2-D"):
        quant.pack_ternary(torch.zeros(4, dtype=torch.int8))
    with pytest.raises(ValueError, match="does not match"):
        quant.unpack_ternary(torch.zeros(1, 64, dtype=torch.uint8), 300)
