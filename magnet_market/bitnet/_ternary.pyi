"""Types of the native kernel ``_ternary.c`` (a C extension, so mypy cannot read its source)."""

from typing_extensions import Buffer

def gemm_i8(
    x: Buffer,
    w: Buffer,
    y: Buffer,
    M: int,
    N: int,
    Kp: int,
    threads: int = 1,
    path: str | None = None,
) -> None: ...
def quantize_activations(x: Buffer, q: Buffer, s: Buffer, M: int, K: int, Kp: int, /) -> None: ...
def bitlinear(
    x: Buffer,
    w: Buffer,
    w_scale: float,
    y: Buffer,
    M: int,
    N: int,
    K: int,
    threads: int = 1,
    path: str | None = None,
) -> None: ...
def available_paths() -> list[str]: ...
def best_path() -> str: ...
def has_openmp() -> bool: ...
