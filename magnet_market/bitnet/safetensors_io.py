"""The safetensors format in one place: the dtype table, header encoding and header validation.

A file is an 8-byte little-endian header length, a JSON header (``__metadata__``: string map;
one ``{dtype, shape, data_offsets}`` entry per tensor) padded with spaces to 8 bytes, then the
raw little-endian tensor data.

We write it ourselves rather than with the ``safetensors`` package: its writer emits the
metadata map in hash order, which changes between processes, so equal checkpoints would get
different bytes, hence different IPFS CIDs, and CIDs are recorded on chain. ``encode_header``
fixes every order (tensors by name, metadata by key), so equal content always gives equal bytes.

Files come from strangers, so ``decode_header`` checks the whole header before any tensor is
read: length, JSON, dtype codes, shapes against byte sizes, and offsets that tile the data
section exactly (none out of range, overlapping, leaving gaps or trailing bytes).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch

from magnet_market.bitnet.errors import CheckpointError

MAX_HEADER_BYTES = 16 << 20  # a real header is a few KiB; refuse absurd ones before parsing
METADATA_KEY = "__metadata__"


@dataclass(frozen=True)
class StoredDtype:
    """One row of the dtype table: a torch dtype, its safetensors code, bytes per element."""

    torch: torch.dtype
    code: str
    size: int


DTYPES: tuple[StoredDtype, ...] = (
    StoredDtype(torch.float64, "F64", 8),
    StoredDtype(torch.float32, "F32", 4),
    StoredDtype(torch.float16, "F16", 2),
    StoredDtype(torch.bfloat16, "BF16", 2),
    StoredDtype(torch.int64, "I64", 8),
    StoredDtype(torch.int32, "I32", 4),
    StoredDtype(torch.int16, "I16", 2),
    StoredDtype(torch.int8, "I8", 1),
    StoredDtype(torch.uint8, "U8", 1),
    StoredDtype(torch.bool, "BOOL", 1),
)
BY_TORCH: dict[torch.dtype, StoredDtype] = {d.torch: d for d in DTYPES}
BY_CODE: dict[str, StoredDtype] = {d.code: d for d in DTYPES}

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, length)``: that many bytes of the file from ``offset`` (fewer only at EOF)."""


class HeaderError(CheckpointError):
    """A safetensors header is truncated, malformed or inconsistent with the file's size."""


class TensorSpec(NamedTuple):
    """What the header says about one tensor before its data is read."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        stored = BY_TORCH.get(self.dtype)
        if stored is None:
            raise ValueError(f"tensor {self.name}: dtype {self.dtype} cannot be stored; cast it")
        return stored.size * math.prod(self.shape)


class TensorLocation(NamedTuple):
    """A tensor's spec and where its bytes are: ``[start, end)`` counted from the file's start."""

    spec: TensorSpec
    start: int
    end: int


@dataclass(frozen=True)
class Header:
    """A validated header: the metadata map and every tensor's location, by name."""

    metadata: dict[str, str]
    tensors: dict[str, TensorLocation]

    @property
    def specs(self) -> dict[str, TensorSpec]:
        return {name: loc.spec for name, loc in self.tensors.items()}


def spec_of(name: str, tensor: torch.Tensor) -> TensorSpec:
    return TensorSpec(name, tensor.dtype, tuple(tensor.shape))


def encode_header(specs: Iterable[TensorSpec], metadata: Mapping[str, str]) -> bytes:
    """The length prefix and padded JSON header; tensors are laid out in name order, no gaps."""
    ordered = sorted(specs, key=lambda s: s.name)
    names = [s.name for s in ordered]
    if len(set(names)) != len(names) or METADATA_KEY in names:
        raise ValueError(f"tensor names must be unique and not {METADATA_KEY!r}: {names}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("safetensors metadata must map strings to strings")
    header: dict[str, object] = {METADATA_KEY: dict(sorted(metadata.items()))}
    offset = 0
    for spec in ordered:
        n = spec.nbytes
        header[spec.name] = {
            "dtype": BY_TORCH[spec.dtype].code,
            "shape": [int(d) for d in spec.shape],
            "data_offsets": [offset, offset + n],
        }
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # tensor data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(h)) + h


def tensor_bytes(tensor: torch.Tensor) -> memoryview | bytes:
    """The raw bytes of a contiguous CPU tensor, in the order the file stores them."""
    if not tensor.numel():
        return b""
    return tensor.reshape(-1).view(torch.uint8).numpy().data  # the array's buffer, no copy


def tensor_from_buffer(spec: TensorSpec, buf: bytearray) -> torch.Tensor:
    """The tensor ``spec`` describes, over ``buf`` (its exact bytes; the tensor shares them)."""
    if not buf:
        return torch.empty(spec.shape, dtype=spec.dtype)
    return torch.frombuffer(buf, dtype=spec.dtype).view(spec.shape)


def decode_header(read_at: ReadAt, size: int) -> Header:
    """Parse and check the header of a ``size``-byte file; raises :class:`HeaderError`."""
    if size < 8:
        raise HeaderError("not a safetensors file: shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", read_at(0, 8))
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise HeaderError(f"safetensors header length {n} is invalid for a {size}-byte file")
    try:
        raw = json.loads(read_at(8, n))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HeaderError(f"safetensors header is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise HeaderError("safetensors header is not a JSON object")
    metadata = raw.pop(METADATA_KEY, None)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise HeaderError("safetensors metadata must map strings to strings")
    data_start = 8 + n
    tensors = {
        name: _location(name, entry, data_start, size - data_start) for name, entry in raw.items()
    }
    _check_tiling(tensors, data_start, size)
    return Header(metadata, tensors)


def _location(name: str, entry: object, data_start: int, data_size: int) -> TensorLocation:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise HeaderError(f"tensor {name}: header entry needs exactly dtype, shape, data_offsets")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in BY_CODE:
        raise HeaderError(f"tensor {name}: unknown dtype {code!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise HeaderError(f"tensor {name}: shape {shape!r} is not a list of sizes >= 0")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets)):
        raise HeaderError(f"tensor {name}: data_offsets {offsets!r} is not [start, end]")
    start, end = offsets
    if not start <= end <= data_size:
        raise HeaderError(
            f"tensor {name}: data_offsets {offsets} out of range of the {data_size}-byte data"
        )
    spec = TensorSpec(name, BY_CODE[code].torch, tuple(shape))
    if end - start != spec.nbytes:
        raise HeaderError(
            f"tensor {name}: {code} {tuple(shape)} needs {spec.nbytes} bytes, "
            f"data_offsets span {end - start}"
        )
    return TensorLocation(spec, data_start + start, data_start + end)


def _is_count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _check_tiling(tensors: dict[str, TensorLocation], data_start: int, size: int) -> None:
    """Tensor bytes cover the data section exactly once: no overlap, no gap, nothing after."""
    at = data_start
    for name, loc in sorted(tensors.items(), key=lambda item: (item[1].start, item[1].end)):
        if loc.start != at:
            problem = "overlaps the tensor before it" if loc.start < at else "leaves a gap"
            raise HeaderError(f"tensor {name}: data_offsets {problem}")
        at = loc.end
    if at != size:
        raise HeaderError(f"{size - at} bytes after the last tensor's data")
