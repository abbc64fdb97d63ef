"""CAR v1 (Content Addressable aRchive): a stream of blocks any IPFS node can import.

Layout: ``varint(len) dag-cbor{"roots": [CID…], "version": 1}`` then, per block,
``varint(len(cid)+len(data)) cid data``. Content built offline in the LocalStore is exported
as a CAR and later ``dag/import``-ed by a node, which keeps every CID unchanged.

The header is the only dag-cbor we ever meet, so this module encodes and decodes exactly that
shape (a two-key map, an array of tag-42 CIDs, a small integer) instead of depending on a
CBOR library. Spec: https://ipld.io/specs/transport/car/carv1/.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from magnet_market.storage import _varint
from magnet_market.storage.cid import CID
from magnet_market.storage.errors import (
    CARFormatError,
    InvalidCIDError,
    StorageError,
    TruncatedContentError,
)

_CID_TAG = 42  # the CBOR tag IPLD uses for links
# A header only lists roots; a megabyte bounds it generously and refuses garbage lengths early.
_MAX_HEADER = 1 << 20
# Kubo refuses blocks over 2 MiB on import; sections are a CID plus such a block.
_MAX_SECTION = 4 << 20


# --- header (the dag-cbor subset) ------------------------------------------------------------


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes((major << 5 | info,)) + n.to_bytes(width, "big")
    raise ValueError(f"CBOR argument too large: {n}")


def _cbor_text(text: str) -> bytes:
    raw = text.encode()
    return _cbor_head(3, len(raw)) + raw


def encode_header(roots: Sequence[CID]) -> bytes:
    """dag-cbor ``{"roots": [...], "version": 1}`` (canonical key order: shorter key first)."""
    body = _cbor_head(5, 2) + _cbor_text("roots") + _cbor_head(4, len(roots))
    for root in roots:
        link = b"\0" + root.to_bytes()  # leading 0x00: the identity multibase prefix
        body += _cbor_head(6, _CID_TAG) + _cbor_head(2, len(link)) + link
    return body + _cbor_text("version") + _cbor_head(0, 1)


class _CborReader:
    """Just enough CBOR to read a CAR header; anything unexpected is a CARFormatError."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def head(self) -> tuple[int, int]:
        if self.pos >= len(self.buf):
            raise CARFormatError("CAR header ends early")
        first = self.buf[self.pos]
        self.pos += 1
        major, info = first >> 5, first & 31
        if info < 24:
            return major, info
        width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
        if width is None or self.pos + width > len(self.buf):
            raise CARFormatError("unsupported or truncated CBOR item in CAR header")
        n = int.from_bytes(self.buf[self.pos : self.pos + width], "big")
        self.pos += width
        return major, n

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise CARFormatError("CAR header ends early")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def value(self) -> object:
        major, n = self.head()
        if major == 0:
            return n
        if major in (2, 3):
            raw = self.take(n)
            return raw if major == 2 else raw.decode("utf-8", "replace")
        if major == 4:
            return [self.value() for _ in range(n)]
        if major == 5:
            return {self.value(): self.value() for _ in range(n)}
        if major == 6 and n == _CID_TAG:
            link = self.value()
            if not isinstance(link, bytes) or link[:1] != b"\0":
                raise CARFormatError("malformed CID link in CAR header")
            try:
                return CID.from_bytes(link[1:])
            except StorageError as e:
                raise CARFormatError(f"bad root CID in CAR header: {e}") from None
        raise CARFormatError(f"unexpected CBOR major type {major} in CAR header")


def decode_header(buf: bytes) -> list[CID]:
    reader = _CborReader(buf)
    header = reader.value()
    if reader.pos != len(buf) or not isinstance(header, dict):
        raise CARFormatError("CAR header is not a single map")
    if header.get("version") != 1:
        raise CARFormatError(f"only CAR version 1 is supported, got {header.get('version')!r}")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise CARFormatError("CAR header roots must be a list of CIDs")
    return roots


# --- stream ----------------------------------------------------------------------------------


class Reader(Protocol):
    """What CAR parsing reads from: a binary file, or any ``read(n) -> bytes`` stream."""

    def read(self, n: int = -1, /) -> bytes: ...


class Writer(Protocol):
    """What CAR writing appends to: a binary file, or any ``write(bytes)`` sink."""

    def write(self, data: bytes, /) -> object: ...


def write_car(roots: Sequence[CID], blocks: Iterable[tuple[CID, bytes]], out: Writer) -> int:
    """Write a CARv1 to ``out``; return the number of blocks written."""
    header = encode_header(roots)
    out.write(_varint.encode(len(header)) + header)
    count = 0
    for cid, data in blocks:
        write_section(out, cid, data)
        count += 1
    return count


def write_section(out: Writer, cid: CID, data: bytes) -> None:
    """Append one block; with :func:`write_car` of no blocks, builds a CAR as blocks appear."""
    raw_cid = cid.to_bytes()
    out.write(_varint.encode(len(raw_cid) + len(data)))
    out.write(raw_cid)
    out.write(data)


def _read_varint(inp: Reader) -> int | None:
    """A varint from a stream; ``None`` at a clean end of stream."""
    raw = bytearray()
    while True:
        byte = inp.read(1)
        if not byte:
            if raw:
                raise TruncatedContentError("CAR stream ends inside a length prefix")
            return None
        raw += byte
        if not byte[0] & 0x80:
            try:
                return _varint.decode(raw)[0]
            except _varint.VarintError as e:
                raise CARFormatError(str(e)) from None
        if len(raw) >= _varint.MAX_VARINT_BYTES:
            raise CARFormatError("over-long varint in CAR stream")


def _read_exact(inp: Reader, n: int) -> bytes:
    data = inp.read(n)
    while len(data) < n:  # non-blocking sockets and pipes may return short reads
        more = inp.read(n - len(data))
        if not more:
            raise TruncatedContentError(f"CAR stream ends {n - len(data)} bytes into a section")
        data += more
    return data


def read_header(inp: Reader) -> list[CID]:
    """Read the header from a CAR stream positioned at its start; return the roots."""
    length = _read_varint(inp)
    if length is None:
        raise CARFormatError("empty CAR stream")
    if not 0 < length <= _MAX_HEADER:
        raise CARFormatError(f"implausible CAR header length {length}")
    return decode_header(_read_exact(inp, length))


def iter_blocks(inp: Reader) -> Iterator[tuple[CID, bytes]]:
    """Yield the blocks after the header, each verified against its CID."""
    while (length := _read_varint(inp)) is not None:
        if not 0 < length <= _MAX_SECTION:
            raise CARFormatError(f"implausible CAR section length {length}")
        section = _read_exact(inp, length)
        try:
            cid, start = CID.read(section, 0)
        except InvalidCIDError as e:  # an unsupported codec keeps its own, clearer error
            raise CARFormatError(f"bad block CID in CAR: {e}") from None
        data = section[start:]
        cid.verify(data)
        yield cid, data
