"""Content identifiers: CIDv0/CIDv1, sha2-256 multihashes, base32 and base58btc multibase.

Only what an IPFS node's default import produces is supported (dag-pb and raw codecs,
sha2-256), so anything else is rejected loudly instead of half-understood.

References: https://github.com/multiformats/cid, https://github.com/multiformats/multihash,
https://github.com/multiformats/multibase.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Literal

from magnet_market.storage import _varint
from magnet_market.storage.errors import (
    CIDMismatchError,
    InvalidCIDError,
    UnsupportedCodecError,
)

# Multicodec table entries we use (https://github.com/multiformats/multicodec/blob/master/table.csv).
DAG_PB = 0x70
RAW = 0x55
SHA2_256 = 0x12
SHA2_256_LEN = 32
CODEC_NAMES = {DAG_PB: "dag-pb", RAW: "raw"}

Base = Literal["base32", "base58btc"]

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58; leading zero bytes become leading ``1`` characters."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58_ALPHABET[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; raises :class:`InvalidCIDError` on a foreign character."""
    n = 0
    for ch in text:
        try:
            n = n * 58 + _B58_INDEX[ch]
        except KeyError:
            raise InvalidCIDError(f"not a base58btc character: {ch!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def _b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _b32decode(text: str) -> bytes:
    try:
        return base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except ValueError as e:
        raise InvalidCIDError(f"bad base32: {e}") from None


@dataclass(frozen=True, slots=True)
class CID:
    """A parsed CID. Equality is by version, codec and digest, not by text encoding.

    Args:
        version: 0 (``Qm…``, always dag-pb) or 1.
        codec: :data:`DAG_PB` or :data:`RAW`.
        digest: the 32-byte sha2-256 digest of the block.
    """

    version: int
    codec: int
    digest: bytes

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise InvalidCIDError(f"unknown CID version {self.version}")
        if self.codec not in CODEC_NAMES:
            raise UnsupportedCodecError(f"unsupported codec 0x{self.codec:x}")
        if self.version == 0 and self.codec != DAG_PB:
            raise InvalidCIDError("CIDv0 can only name dag-pb blocks")
        if len(self.digest) != SHA2_256_LEN:
            raise InvalidCIDError(f"sha2-256 digest must be 32 bytes, got {len(self.digest)}")

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def for_block(cls, data: bytes | memoryview, codec: int, version: int = 1) -> CID:
        """The CID of ``data`` stored as a block with ``codec``."""
        return cls(version, codec, hashlib.sha256(data).digest())

    @classmethod
    def parse(cls, text: str | CID) -> CID:
        """Parse a CID string (``Qm…``, ``b…`` base32 or ``z…`` base58btc); CIDs pass through."""
        if isinstance(text, CID):
            return text
        if not isinstance(text, str) or not text:
            raise InvalidCIDError(f"not a CID: {text!r}")
        text = text.strip()
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(b58decode(text))
        prefix, body = text[0], text[1:]
        if prefix in "bB":
            raw = _b32decode(body)
        elif prefix == "z":
            raw = b58decode(body)
        else:
            raise InvalidCIDError(f"unsupported multibase prefix {prefix!r} in {text!r}")
        cid = cls.from_bytes(raw)
        if cid.version == 0:
            raise InvalidCIDError("a CIDv0 must be written in bare base58btc (Qm…)")
        return cid

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> CID:
        """Decode a binary CID that fills ``raw`` exactly."""
        cid, end = cls.read(raw, 0)
        if end != len(raw):
            raise InvalidCIDError(f"{len(raw) - end} trailing bytes after CID")
        return cid

    @classmethod
    def read(cls, buf: bytes | memoryview, pos: int) -> tuple[CID, int]:
        """Decode the binary CID at ``buf[pos]`` (as in CAR sections); return it and its end."""
        try:
            if buf[pos : pos + 2] == b"\x12\x20":  # CIDv0 is a bare sha2-256 multihash
                version, codec = 0, DAG_PB
            else:
                version, pos = _varint.decode(buf, pos)
                if version != 1:
                    raise InvalidCIDError(f"unknown CID version {version}")
                codec, pos = _varint.decode(buf, pos)
            hash_fn, pos = _varint.decode(buf, pos)
            length, pos = _varint.decode(buf, pos)
        except (_varint.VarintError, IndexError) as e:
            raise InvalidCIDError(f"malformed binary CID: {e}") from None
        if hash_fn != SHA2_256:
            raise UnsupportedCodecError(f"unsupported multihash function 0x{hash_fn:x}")
        if length != SHA2_256_LEN or pos + length > len(buf):
            raise InvalidCIDError("truncated or mis-sized sha2-256 multihash")
        return cls(version, codec, bytes(buf[pos : pos + length])), pos + length

    # --- conversion ---------------------------------------------------------------------------

    @property
    def multihash(self) -> bytes:
        """``<sha2-256><32><digest>``: the block's identity regardless of CID version/codec."""
        return bytes((SHA2_256, SHA2_256_LEN)) + self.digest

    def to_bytes(self) -> bytes:
        """Binary form (as stored in dag-pb links and CAR files)."""
        if self.version == 0:
            return self.multihash
        return _varint.encode(1) + _varint.encode(self.codec) + self.multihash

    def encode(self, base: Base = "base32") -> str:
        """Text form. CIDv0 is always bare base58btc; CIDv1 defaults to base32 (``baf…``)."""
        if self.version == 0:
            return b58encode(self.multihash)
        if base == "base32":
            return "b" + _b32encode(self.to_bytes())
        if base == "base58btc":
            return "z" + b58encode(self.to_bytes())
        raise ValueError(f"unknown multibase {base!r}; use 'base32' or 'base58btc'")

    def to_v1(self) -> CID:
        """The same block named by a CIDv1."""
        return CID(1, self.codec, self.digest)

    def verify(self, data: bytes | memoryview) -> None:
        """Raise :class:`CIDMismatchError` unless ``data`` is exactly this CID's block."""
        digest = hashlib.sha256(data).digest()
        if digest != self.digest:
            raise CIDMismatchError(self, CID(self.version, self.codec, digest))

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"CID({self.encode()!r})"
