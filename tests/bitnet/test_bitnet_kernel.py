"""The native packed-ternary kernel: exact against the reference integer matmul on every path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from magnet_market.bitnet import kernel, quant
from magnet_market.bitnet.layers import BitLinear, BitLinearKernel

PATHS = kernel.available_paths()
FIXTURES = Path(__file__).parent / "fixtures"


def ref_int_matmul(x: torch.Tensor, w_int: torch.Tensor) -> torch.Tensor:
    """x (M, K) int8 @ w_int (N, K).T in float64: exact, since |sum| < 2**53."""
    return (x.double() @ w_int.double().T).to(torch.int32)


def problem(m: int, n: int, k: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    w = torch.randint(-1, 2, (n, k), generator=g).to(torch.int8)
    x = torch.zeros(m, quant.padded_k(k), dtype=torch.int8)
    x[:, :k] = torch.randint(-128, 128, (m, k), generator=g).to(torch.int8)
    return x, w


def test_paths_include_portable_and_dispatch_picks_fastest():
    assert PATHS[0] == "scalar"
    assert kernel.best_path() == PATHS[-1]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("m", "n", "k"),
    [(1, 1, 1), (1, 7, 256), (3, 9, 300), (4, 8, 512), (5, 13, 513), (9, 6, 1000), (0, 4, 10)],
)
def test_gemm_exact_vs_reference(path, m, n, k):
    x, w = problem(m, n, k, seed=m * 1000 + n * 10 + k)
    p = quant.pack_ternary(w)
    want = ref_int_matmul(x[:, :k], w)
    for threads in (1, 2, 3):
        assert torch.equal(kernel.gemm_i8(x, p, threads=threads, path=path), want)


@pytest.mark.parametrize("path", PATHS)
def test_gemm_extreme_values(path):
    n, k = 6, 1024
    w = torch.ones(n, k, dtype=torch.int8)
    w[1] = -1
    w[2] = 0
    w[3, ::2] = -1
    x = torch.full((4, k), -128, dtype=torch.int8)
    x[1] = 127
    x[2, ::3] = 127
    x[3] = 0
    got = kernel.gemm_i8(x, quant.pack_ternary(w), threads=2, path=path)
    assert torch.equal(got, ref_int_matmul(x, w))
    assert int(got[0, 0]) == -128 * k and int(got[0, 1]) == 128 * k


def test_all_paths_agree_on_a_larger_problem():
    x, w = problem(17, 37, 4096 + 256, seed=7)
    p = quant.pack_ternary(w)
    # 17 * 37 * 4352 multiply-adds: above the kernel's threading threshold, so threads run
    outs = [kernel.gemm_i8(x, p, threads=t, path=path) for path in PATHS for t in (1, 2, 3)]
    for o in outs:
        assert torch.equal(o, outs[0])
    assert torch.equal(outs[0], ref_int_matmul(x[:, : 4096 + 256], w))


def test_native_activation_quant_is_bit_identical_to_torch():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(11, 300, generator=g) * torch.logspace(-6, 6, 11)[:, None]
    x[0] = 0.0
    x[1, 7] = 3e38
    q, s = kernel.quantize_activations(x)
    rq, rs = quant.quantize_activations(x)
    assert torch.equal(q[:, :300].float(), rq) and torch.equal(
        q[:, 300:], torch.zeros(11, 212, dtype=torch.int8)
    )
    assert torch.equal(s, rs[:, 0])


@pytest.mark.parametrize("path", PATHS)
def test_fused_bitlinear_equals_integer_reference_then_scaling(path):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 200, generator=g)
    w = torch.randn(12, 200, generator=g) * 0.05
    w_int, sw = quant.ternarize(w)
    xq, sx = quant.quantize_activations(x)
    acc = ref_int_matmul(xq.to(torch.int8), w_int.to(torch.int8))
    want = acc.float() / (sx * sw)  # the only float step: one division per output
    got = kernel.bitlinear(x, quant.pack_ternary(w_int.to(torch.int8)), float(sw), 12, path=path)
    assert torch.equal(got, want)


def test_kernel_layer_matches_reference_layer():
    torch.manual_seed(0)
    ref = BitLinear(96, 40)
    packed = BitLinearKernel.from_bitlinear(ref)
    x = torch.randn(3, 7, 96)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), ref(x), rtol=1e-4, atol=1e-5)
    assert packed.weight_packed.numel() * 4 >= 96 * 40  # 2 bits per weight (K padded to 256)


def test_argument_errors_say_how_to_fix():
    x, w = problem(2, 4, 256, 0)
    p = quant.pack_ternary(w)
    with pytest.raises(ValueError, match="pad x"):
        kernel.gemm_i8(x[:, :128].contiguous(), p)
    with pytest.raises(ValueError, match="int8"):
        kernel.gemm_i8(x.float(), p)
    with pytest.raises(ValueError, match="unknown path"):
        kernel.gemm_i8(x, p, path="neon")
    with pytest.raises(ValueError, match="threads"):
        kernel.gemm_i8(x, p, threads=0)


def test_golden_output(request):
    """Regression fixture for the kernel (regenerate with WRITE_FIXTURE=true)."""
    x, w = problem(3, 8, 700, seed=11)
    y = kernel.gemm_i8(x, quant.pack_ternary(w), path="scalar")
    got = {"y": y.tolist()}
    path = FIXTURES / f"{request.node.name}.json"
    if os.environ.get("WRITE_FIXTURE") == "true":
        path.write_text(json.dumps(got) + "\n")
    assert got == json.loads(path.read_text())


def test_missing_extension_says_how_to_build(monkeypatch):
    from magnet_market.bitnet.errors import KernelUnavailableError

    monkeypatch.setattr(kernel, "_ternary", None)
    assert not kernel.available()
    with pytest.raises(KernelUnavailableError, match="pip install -e"):
        kernel.best_path()
