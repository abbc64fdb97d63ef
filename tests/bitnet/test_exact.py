"""The judging model: the same numbers as the trained model, computed the same way on every CPU."""

from __future__ import annotations

import math

import pytest
import torch

from magnet_market.bitnet import kernel, quant
from magnet_market.bitnet.errors import KernelUnavailableError
from magnet_market.bitnet.exact import ExactBitLinear, exact_model, fixed_sum, square_sum
from magnet_market.bitnet.layers import BitLinear
from magnet_market.bitnet.model import ClassifierConfig, TransformerConfig, build_model
from magnet_market.diloco.verify import METRIC_DECIMALS, judged_metrics


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1001])
def test_fixed_sum_adds_every_element_in_pairs(n):
    x = torch.randn(5, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    total = fixed_sum(x)
    assert total.shape == (5, 1)
    assert torch.allclose(total, x.sum(-1, keepdim=True), rtol=1e-12, atol=1e-12)
    # the order is the pairwise tree's: a hand-made tree over 3 elements is bit-equal
    if n == 3:
        assert torch.equal(total[:, 0], (x[:, 0] + x[:, 1]) + (x[:, 2] + 0.0))
    assert torch.equal(fixed_sum(x.T, dim=0).T, total)


def test_square_sum_is_the_float64_sum_of_squares():
    x = torch.randn(3, 333, generator=torch.Generator().manual_seed(1))
    exact = math.fsum(float(v) ** 2 for v in x.reshape(-1).tolist())
    assert square_sum(x) == pytest.approx(exact, rel=1e-14)
    assert square_sum(torch.empty(0)) == 0.0


def test_exact_bitlinear_computes_what_the_trained_layer_computes():
    torch.manual_seed(0)
    layer = BitLinear(300, 17)  # K not a multiple of the kernel's block
    x = torch.randn(4, 6, 300)
    want = layer(x).detach().double()
    got = ExactBitLinear(layer)(x)
    assert got.dtype == torch.float64 and got.shape == (4, 6, 17)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "config",
    [TransformerConfig(seq_len=16, d_model=32, n_layers=2, n_heads=2), ClassifierConfig(hidden=8)],
)
def test_exact_model_matches_the_model_and_leaves_it_alone(config):
    torch.manual_seed(0)
    model = build_model(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    judged = exact_model(model)
    if isinstance(config, TransformerConfig):
        inputs = (torch.randint(0, 256, (2, 16)),)
    else:
        inputs = (torch.randn(5, config.n_features),)
    want, _ = model(*inputs)
    got, _ = judged(*inputs)
    assert got.dtype == torch.float64
    assert torch.allclose(got, want.detach().double(), rtol=1e-3, atol=1e-3)
    assert not any(isinstance(m, BitLinear) for m in judged.modules())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert any(isinstance(m, BitLinear) for m in model.modules())


def test_judged_metrics_are_rounded_before_anyone_uses_them():
    model = build_model(ClassifierConfig(hidden=8))
    seen = []

    def evaluate(m):
        seen.append(next(m.parameters()).dtype)
        return {"val_loss": 2.123456789, "balanced_accuracy": 1 / 3}

    assert judged_metrics(model, evaluate) == {
        "val_loss": round(2.123456789, METRIC_DECIMALS),
        "balanced_accuracy": round(1 / 3, METRIC_DECIMALS),
    }
    assert seen == [torch.float64]


def test_magnet_kernel_forces_a_path(monkeypatch):
    monkeypatch.delenv(kernel.KERNEL_ENV, raising=False)
    assert kernel.resolve_path() == kernel.best_path()
    assert kernel.resolve_path("scalar") == "scalar"  # an explicit path wins over the variable
    monkeypatch.setenv(kernel.KERNEL_ENV, "portable")
    assert kernel.resolve_path() == "scalar"
    x = torch.randint(-128, 128, (3, 256), dtype=torch.int8)
    w = quant.pack_ternary(torch.randint(-1, 2, (5, 256)))
    forced = kernel.gemm_i8(x, w)
    monkeypatch.setenv(kernel.KERNEL_ENV, "avx2")
    assert kernel.resolve_path() == "avx2"
    assert torch.equal(kernel.gemm_i8(x, w), forced)
    monkeypatch.setenv(kernel.KERNEL_ENV, "neon")
    with pytest.raises(KernelUnavailableError, match="MAGNET_KERNEL='neon' is not a kernel path"):
        kernel.gemm_i8(x, w)
