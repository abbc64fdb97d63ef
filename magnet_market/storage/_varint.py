"""Unsigned LEB128 varints, the length prefix shared by multiformats, protobuf and CAR."""

from __future__ import annotations

from magnet_market.storage.errors import StorageError

# A uint64 needs at most ten 7-bit groups; anything longer is garbage, not a bigger number.
MAX_VARINT_BYTES = 10


class VarintError(StorageError, ValueError):
    """A varint is truncated, over-long or negative."""


def encode(n: int) -> bytes:
    """Encode a non-negative integer as an unsigned varint."""
    if n < 0:
        raise VarintError(f"varints are unsigned, got {n}")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode the varint starting at ``buf[pos]``; return ``(value, position after it)``."""
    value = shift = 0
    for i in range(pos, min(len(buf), pos + MAX_VARINT_BYTES)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    if len(buf) - pos >= MAX_VARINT_BYTES:
        raise VarintError("varint longer than 10 bytes")
    raise VarintError("truncated varint")
