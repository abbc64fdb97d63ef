"""Read one tensor at a time from a safetensors file with ``pread``, not ``mmap``.

``safetensors.safe_open`` maps the whole file; every page it touches counts in the process's
resident memory until the kernel reclaims it, so merging 8 files of 400 MB would *look* like
3 GB even though only a few tensors are alive. Reading each tensor into its own buffer keeps
the real and measured peak at a few tensors. The header is validated first
(``safetensors_io.decode_header``), so a hostile file cannot make us read out of bounds.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.safetensors_io import TensorSpec, decode_header, tensor_from_buffer

MODEL_PREFIX = "model."


class TensorFile:
    """An open safetensors file: ``metadata``, ``specs`` and ``get(name)`` (a fresh tensor).

    Raises ``safetensors_io.HeaderError`` (a ``CheckpointError``) if the header is not valid.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            header = decode_header(self._read_at, os.fstat(self._fd).st_size)
        except BaseException:
            os.close(self._fd)
            raise
        self.metadata: dict[str, str] = header.metadata
        self.specs: dict[str, TensorSpec] = header.specs
        self._locations = header.tensors

    def model_specs(self) -> dict[str, TensorSpec]:
        """The ``model.`` entries (the weights; not optimizer state or outer momentum)."""
        return {k: v for k, v in self.specs.items() if k.startswith(MODEL_PREFIX)}

    def get(self, name: str) -> torch.Tensor:
        """A copy of tensor ``name`` (nothing of the file stays mapped)."""
        spec, start, end = self._locations[name]
        buf = bytearray(end - start)
        self._read_into(buf, start)
        return tensor_from_buffer(spec, buf)

    def _read_at(self, offset: int, n: int) -> bytes:
        buf = bytearray(n)
        return bytes(buf[: self._read_into(buf, offset, exact=False)])

    def _read_into(self, buf: bytearray, offset: int, exact: bool = True) -> int:
        """Fill ``buf`` from ``offset`` (``pread`` may return short reads on large tensors)."""
        view, done = memoryview(buf), 0
        while done < len(buf):
            got = os.preadv(self._fd, [view[done:]], offset + done)
            if got == 0:
                if exact:
                    raise CheckpointError(f"{self.path}: file ended at byte {offset + done}")
                break
            done += got
        return done

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> TensorFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_into(model: nn.Module, f: TensorFile) -> None:
    """Copy the file's ``model.`` tensors into ``model`` one at a time (names, shapes, dtypes
    must match); peak memory is the model plus one tensor, not a second copy of the model."""
    own = model.state_dict()  # shares storage with the model's parameters and buffers
    theirs = {k[len(MODEL_PREFIX) :]: v for k, v in f.model_specs().items()}
    if set(theirs) != set(own):
        missing, unexpected = sorted(set(own) - set(theirs)), sorted(set(theirs) - set(own))
        raise CheckpointError(
            f"checkpoint does not fit the model: missing {missing}, unexpected {unexpected}"
        )
    for k, spec in theirs.items():
        if spec.shape != tuple(own[k].shape) or spec.dtype != own[k].dtype:
            raise CheckpointError(
                f"tensor {k}: checkpoint has {spec.dtype} {spec.shape}, "
                f"model has {own[k].dtype} {tuple(own[k].shape)}"
            )
    with torch.no_grad():
        for k, target in own.items():
            target.copy_(f.get(MODEL_PREFIX + k))
