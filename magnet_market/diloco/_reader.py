"""Read one tensor at a time from a safetensors file with ``pread``, not ``mmap``.

``safetensors.safe_open`` maps the whole file; every page it touches counts in the process's
resident memory until the kernel reclaims it, so merging 8 files of 400 MB would *look* like
3 GB even though only a few tensors are alive. Reading each tensor into its own buffer keeps
the merge's real and measured peak at a few tensors. The header is validated first (dtype
codes, shapes, offsets inside the file), so a hostile file cannot make us read out of bounds.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from magnet_market.bitnet.checkpoint import _DTYPES, MAX_HEADER_BYTES
from magnet_market.diloco._writer import TensorSpec
from magnet_market.diloco.errors import MergeInputError

_DTYPE_OF = {code: dtype for dtype, code in _DTYPES.items()}


class TensorFile:
    """An open safetensors file: ``metadata``, ``specs`` and ``get(name)`` (a fresh tensor)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            self._parse_header()
        except BaseException:
            os.close(self._fd)
            raise

    def _parse_header(self) -> None:
        size = os.fstat(self._fd).st_size
        head = os.pread(self._fd, 8, 0)
        (n,) = struct.unpack("<Q", head) if len(head) == 8 else (size,)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise MergeInputError(f"{self.path}: not a safetensors file (bad header length)")
        try:
            header = json.loads(os.pread(self._fd, n, 8))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MergeInputError(f"{self.path}: safetensors header is not JSON") from exc
        meta = header.pop("__metadata__", None) or {}
        self.metadata: dict[str, str] = meta
        self.specs: dict[str, TensorSpec] = {}
        self._offsets: dict[str, tuple[int, int]] = {}
        for name, entry in header.items():
            try:
                dtype = _DTYPE_OF[entry["dtype"]]
                shape = tuple(int(d) for d in entry["shape"])
                start, end = (int(x) for x in entry["data_offsets"])
            except (KeyError, TypeError, ValueError) as exc:
                raise MergeInputError(f"{self.path}: bad header entry {name!r}") from exc
            want = torch.empty((), dtype=dtype).element_size() * torch.Size(shape).numel()
            if min(shape, default=0) < 0 or end - start != want or start < 0 or 8 + n + end > size:
                raise MergeInputError(f"{self.path}: tensor {name} has inconsistent offsets")
            self.specs[name] = (name, dtype, shape)
            self._offsets[name] = (8 + n + start, want)

    def get(self, name: str) -> torch.Tensor:
        """A copy of tensor ``name`` (nothing of the file stays mapped)."""
        _, dtype, shape = self.specs[name]
        offset, nbytes = self._offsets[name]
        buf = bytearray(nbytes)
        view = memoryview(buf)
        done = 0
        while done < nbytes:  # pread may return short reads on large tensors
            chunk = os.preadv(self._fd, [view[done:]], offset + done)
            if chunk == 0:
                raise MergeInputError(f"{self.path}: file ended inside tensor {name}")
            done += chunk
        if not nbytes:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(buf, dtype=dtype).view(shape)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> TensorFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
