"""Python face of the native packed-ternary kernel (``_ternary.c``, built at install time).

The integer product is exact on every path (AVX-512 VNNI, AVX2, portable C), so
``gemm_i8(x, w) == x @ unpack(w).T`` bit for bit; :func:`bitlinear` adds per-token activation
quantization and the float scaling in the same order as torch does.
"""

from __future__ import annotations

import os
from types import ModuleType

import torch

from magnet_market.bitnet.errors import KernelUnavailableError
from magnet_market.bitnet.quant import padded_k

_ternary: ModuleType | None
try:
    from magnet_market.bitnet import _ternary  # typed by _ternary.pyi
except ImportError as exc:  # pragma: no cover - depends on the install
    _ternary = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


def _lib():
    if _ternary is None:
        raise KernelUnavailableError(
            "the native kernel magnet_market.bitnet._ternary is not built; run `pip install -e .` "
            f"(or `python setup.py build_ext --inplace`) with a C compiler ({_IMPORT_ERROR})"
        )
    return _ternary


def available() -> bool:
    """True when the native kernel is importable."""
    return _ternary is not None


def available_paths() -> list[str]:
    """Kernel paths this CPU runs, e.g. ``['scalar', 'avx2', 'avx512vnni']``."""
    return list(_lib().available_paths())


def best_path() -> str:
    """The path ``'auto'`` selects on this CPU."""
    return str(_lib().best_path())


#: Environment variable forcing the path ``"auto"`` stands for, e.g. to check that a round's
#: report is the same on every path: ``portable`` (plain C), ``avx2`` or ``avx512`` (VNNI).
KERNEL_ENV = "MAGNET_KERNEL"
_FORCED_PATHS = {"portable": "scalar", "avx2": "avx2", "avx512": "avx512vnni"}


def resolve_path(path: str = "auto") -> str:
    """The kernel path a call with ``path`` runs: ``"auto"`` follows ``MAGNET_KERNEL`` when it
    is set (an unknown name, or a path this CPU lacks, is an error), else the CPU's best."""
    if path != "auto":
        return path
    forced = os.environ.get(KERNEL_ENV, "").strip().lower()
    if forced in ("", "auto"):
        return best_path()
    if forced not in _FORCED_PATHS:
        raise KernelUnavailableError(
            f"{KERNEL_ENV}={forced!r} is not a kernel path; use one of "
            f"{', '.join(_FORCED_PATHS)} (or unset it for the CPU's best)"
        )
    chosen = _FORCED_PATHS[forced]
    if chosen not in available_paths():
        raise KernelUnavailableError(
            f"{KERNEL_ENV}={forced}: this CPU cannot run the {chosen} path "
            f"(it runs {', '.join(available_paths())})"
        )
    return chosen


def _threads(threads: int | None) -> int:
    t = torch.get_num_threads() if threads is None else threads
    if t < 1:
        raise ValueError(f"threads must be >= 1 (or None for torch.get_num_threads()), got {t}")
    return t


def gemm_i8(
    x: torch.Tensor, w_packed: torch.Tensor, *, threads: int | None = None, path: str = "auto"
) -> torch.Tensor:
    """Exact int32 product ``(M, Kp) int8 @ (N, Kp // 4) packed ternary`` -> ``(M, N)``."""
    if x.dtype != torch.int8 or x.dim() != 2:
        raise ValueError(f"x must be a 2-D int8 tensor, got {x.dtype} {tuple(x.shape)}")
    if w_packed.dtype != torch.uint8 or w_packed.dim() != 2:
        raise ValueError("w_packed must be 2-D uint8 from quant.pack_ternary")
    m, kp = x.shape
    n = w_packed.shape[0]
    if w_packed.shape[1] * 4 != kp:
        raise ValueError(f"x has Kp={kp} but w_packed holds {w_packed.shape[1] * 4}; pad x to Kp")
    y = torch.empty(m, n, dtype=torch.int32)
    _lib().gemm_i8(
        x.contiguous().numpy(),
        w_packed.contiguous().numpy(),
        y.numpy(),
        m,
        n,
        kp,
        threads=_threads(threads),
        path=resolve_path(path),
    )
    return y


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Native per-token absmax int8: ``((M, padded_k(K)) int8, (M,) float32 scales)``."""
    if x.dtype != torch.float32 or x.dim() != 2:
        raise ValueError(f"x must be a 2-D float32 tensor, got {x.dtype} {tuple(x.shape)}")
    m, k = x.shape
    kp = padded_k(k)
    q = torch.empty(m, kp, dtype=torch.int8)
    s = torch.empty(m, dtype=torch.float32)
    _lib().quantize_activations(x.contiguous().numpy(), q.numpy(), s.numpy(), m, k, kp)
    return q, s


def bitlinear(
    x: torch.Tensor,
    w_packed: torch.Tensor,
    w_scale: float,
    out_features: int,
    *,
    threads: int | None = None,
    path: str = "auto",
) -> torch.Tensor:
    """Fused inference BitLinear on float32 ``x (..., K)``: quantize, ternary matmul, rescale."""
    if x.dtype != torch.float32:
        raise ValueError(f"x must be float32, got {x.dtype}")
    lead, k = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, k).contiguous()
    m = x2.shape[0]
    want = (out_features, padded_k(k) // 4)
    if tuple(w_packed.shape) != want:
        raise ValueError(f"w_packed has shape {tuple(w_packed.shape)}, expected {want}")
    y = torch.empty(m, out_features, dtype=torch.float32)
    _lib().bitlinear(
        x2.numpy(),
        w_packed.numpy(),
        float(w_scale),
        y.numpy(),
        m,
        out_features,
        k,
        threads=_threads(threads),
        path=resolve_path(path),
    )
    return y.view(*lead, out_features)
