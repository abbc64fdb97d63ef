"""A safetensors writer that takes tensors one at a time, byte-identical to ``Checkpoint.to_bytes``.

The merge must not hold the merged model, its momentum and a serialized copy at once (8 x 100M
parameters would need several GiB). Shapes and dtypes are known before any value is computed,
so the header is written first; then each tensor is appended as soon as it exists. Tensors must
arrive in sorted-name order, which is the order ``safetensors_io.encode_header`` lays them out,
so equal content gives an equal file and an equal IPFS CID (tested against ``to_bytes``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import torch

from magnet_market._atomic import atomic_file
from magnet_market.bitnet.safetensors_io import TensorSpec, encode_header, tensor_bytes


class TensorAppender:
    """Appends the declared tensors to an open file, checking each is the next one in order."""

    def __init__(self, file: BinaryIO, specs: Iterable[TensorSpec]) -> None:
        self._file = file
        self._order = sorted(specs, key=lambda s: s.name)
        self._next = 0

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Append ``tensor``; it must be the next name in sorted order, with the declared shape."""
        if self._next >= len(self._order):
            raise ValueError(f"tensor {name}: all {len(self._order)} declared tensors are written")
        want, dtype, shape = self._order[self._next]
        t = tensor.detach().cpu().contiguous()
        if name != want or t.dtype != dtype or tuple(t.shape) != tuple(shape):
            raise ValueError(
                f"expected {want} {dtype} {tuple(shape)} next, got {name} {t.dtype} "
                f"{tuple(t.shape)}"
            )
        self._file.write(tensor_bytes(t))
        self._next += 1

    def check_complete(self) -> None:
        if self._next != len(self._order):
            missing = [s.name for s in self._order[self._next :]]
            raise ValueError(f"{len(missing)} declared tensors never written, first {missing[0]}")


@contextlib.contextmanager
def streaming_writer(
    path: str | Path, specs: Iterable[TensorSpec], metadata: Mapping[str, str]
) -> Iterator[TensorAppender]:
    """Write a safetensors file tensor by tensor; it appears at ``path`` only when complete.

    Usage::

        with streaming_writer(path, specs, metadata) as w:
            for name in sorted(names):
                w.write(name, tensor)

    An error in the block, or a declared tensor never written, leaves nothing behind.
    """
    specs = [TensorSpec(name, dtype, tuple(shape)) for name, dtype, shape in specs]
    header = encode_header(specs, metadata)
    with atomic_file(path) as f:
        f.write(header)
        appender = TensorAppender(f, specs)
        yield appender
        appender.check_complete()
