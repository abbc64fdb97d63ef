"""CID parsing and encoding: round trips, both versions, and clear errors for bad input."""

from __future__ import annotations

import hashlib

import pytest

from magnet_market.storage import (
    CID,
    CIDMismatchError,
    InvalidCIDError,
    UnsupportedCodecError,
    _varint,
)
from magnet_market.storage.cid import DAG_PB, RAW, b58decode, b58encode

from .conftest import load_vectors

ALL_CIDS = [v[key] for v in load_vectors() for key in ("cid_v0", "cid_v1_raw")]


@pytest.mark.parametrize("text", ALL_CIDS)
def test_vector_cids_round_trip(text: str) -> None:
    cid = CID.parse(text)
    assert cid.encode() == text
    assert CID.from_bytes(cid.to_bytes()) == cid


def test_v0_and_v1_name_the_same_block_by_multihash() -> None:
    v0 = CID.parse("Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD")
    v1 = v0.to_v1()
    assert v1.encode().startswith("bafy")
    assert v1 != v0
    assert v1.multihash == v0.multihash
    assert CID.parse(v1.encode("base58btc")) == v1  # the base58btc form js-ipfs answers in


def test_for_block_and_verify() -> None:
    cid = CID.for_block(b"hello world", RAW)
    assert cid.encode() == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    assert cid.digest == hashlib.sha256(b"hello world").digest()
    cid.verify(b"hello world")
    with pytest.raises(CIDMismatchError) as info:
        cid.verify(b"hello world!")
    assert info.value.expected == cid
    assert info.value.actual == CID.for_block(b"hello world!", RAW)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyf0",  # '0' is not base58
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5",  # one char short
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5eaa",  # trailing bytes
        "mAXASIA",  # base64 multibase, not supported
        "b" + "1" * 10,  # not base32
    ],
)
def test_malformed_cids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidCIDError):
        CID.parse(text)


def test_v0_in_a_multibase_is_rejected() -> None:
    v0 = CID.parse("Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD")
    with pytest.raises(InvalidCIDError, match="bare base58btc"):
        CID.parse("z" + v0.encode())


def _v1(codec: int, hash_fn: int, digest_len: int = 32) -> bytes:
    return (
        _varint.encode(1)
        + _varint.encode(codec)
        + _varint.encode(hash_fn)
        + _varint.encode(digest_len)
        + bytes(digest_len)
    )


def test_unknown_codec_and_hash_get_their_own_error() -> None:
    with pytest.raises(UnsupportedCodecError, match="codec 0x71"):
        CID.from_bytes(_v1(0x71, 0x12))  # dag-cbor
    with pytest.raises(UnsupportedCodecError, match="multihash function 0xb220"):
        CID.from_bytes(_v1(DAG_PB, 0xB220))  # blake2b-256
    with pytest.raises(InvalidCIDError):
        CID.from_bytes(_v1(RAW, 0x12, 20))
    with pytest.raises(InvalidCIDError):
        CID.from_bytes(_v1(RAW, 0x12)[:-1])  # truncated digest
    assert issubclass(UnsupportedCodecError, ValueError)


@pytest.mark.parametrize("data", [b"", b"\0", b"\0\0\1", bytes(range(256)), b"\xff" * 40])
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**32, 2**64 - 1])
def test_varint_round_trip(n: int) -> None:
    raw = _varint.encode(n)
    assert _varint.decode(raw + b"\xff") == (n, len(raw))


def test_varint_errors() -> None:
    with pytest.raises(_varint.VarintError, match="truncated"):
        _varint.decode(b"\x80\x80")
    with pytest.raises(_varint.VarintError, match="longer"):
        _varint.decode(b"\xff" * 11)
    with pytest.raises(_varint.VarintError):
        _varint.encode(-1)
