"""A safetensors writer that takes tensors one at a time, byte-identical to ``Checkpoint.to_bytes``.

The merge must not hold the merged model, its momentum and a serialized copy at once (8 x 100M
parameters would need several GiB). Shapes and dtypes are known before any value is computed,
so the header is written first; then each tensor is appended as soon as it exists. Tensors must
arrive in sorted-name order, which is the order ``bitnet.checkpoint._serialize`` lays them out,
so equal content gives an equal file and an equal IPFS CID (tested against ``to_bytes``).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import BinaryIO

import torch

from magnet_market.bitnet.checkpoint import _DTYPES

TensorSpec = tuple[str, torch.dtype, tuple[int, ...]]


def _nbytes(dtype: torch.dtype, shape: tuple[int, ...]) -> int:
    return torch.empty((), dtype=dtype).element_size() * int(torch.Size(shape).numel())


def header_bytes(specs: list[TensorSpec], metadata: dict[str, str]) -> bytes:
    """The length prefix and JSON header for tensors ``specs`` (any order; laid out sorted)."""
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name, dtype, shape in sorted(specs):
        if dtype not in _DTYPES:
            raise ValueError(f"tensor {name}: dtype {dtype} cannot be stored; cast it first")
        n = _nbytes(dtype, shape)
        header[name] = {
            "dtype": _DTYPES[dtype],
            "shape": list(shape),
            "data_offsets": [offset, offset + n],
        }
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # 8-byte aligned data, as _serialize does
    return struct.pack("<Q", len(h)) + h


class StreamingWriter:
    """Write a safetensors file tensor by tensor; ``close()`` renames it into place atomically.

    Usage::

        with StreamingWriter(path, specs, metadata) as w:
            for name in sorted(names):
                w.write(name, tensor)
    """

    def __init__(self, path: str | Path, specs: list[TensorSpec], metadata: dict[str, str]):
        self.path = Path(path)
        self._order = [(name, dtype, tuple(shape)) for name, dtype, shape in sorted(specs)]
        self._next = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        self._tmp = Path(tmp)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._file.write(header_bytes(specs, metadata))

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Append ``tensor``; it must be the next name in sorted order, with the declared shape."""
        if self._next >= len(self._order):
            raise ValueError(f"tensor {name}: all {len(self._order)} declared tensors are written")
        want, dtype, shape = self._order[self._next]
        t = tensor.detach().cpu().contiguous()
        if name != want or t.dtype != dtype or tuple(t.shape) != shape:
            raise ValueError(
                f"expected {want} {dtype} {shape} next, got {name} {t.dtype} {tuple(t.shape)}"
            )
        if t.numel():
            self._file.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
        self._next += 1

    def close(self) -> Path:
        """Finish the file (every declared tensor must have been written) and move it in place."""
        self._file.close()
        if self._next != len(self._order):
            self._tmp.unlink(missing_ok=True)
            missing = [n for n, _, _ in self._order[self._next :]]
            raise ValueError(f"{len(missing)} declared tensors never written, first {missing[0]}")
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (a failed merge leaves nothing behind)."""
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> StreamingWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
