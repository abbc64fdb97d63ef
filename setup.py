"""Build the native ternary matmul kernel; all package metadata lives in pyproject.toml."""

import sys

from setuptools import Extension, setup

# -ffp-contract=off: the kernel's float steps must round exactly like torch's (no FMA fusion).
# The SIMD paths use per-function target attributes and run-time CPUID dispatch, so no -march.
_cflags = ["-O3", "-std=c11", "-ffp-contract=off", "-fno-fast-math"]
_lflags = []
if sys.platform.startswith("linux"):
    _cflags.append("-fopenmp")
    _lflags.append("-fopenmp")

setup(
    ext_modules=[
        Extension(
            "magnet_market.bitnet._ternary",
            sources=["magnet_market/bitnet/_ternary.c"],
            extra_compile_args=_cflags,
            extra_link_args=_lflags,
        )
    ]
)
