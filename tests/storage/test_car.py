"""CAR v1 export/import: round trips, agreement with aleph-cid, and clear errors for bad files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import aleph_cid
import pytest

from magnet_market.storage import (
    CHUNK_SIZE,
    CARFormatError,
    CIDMismatchError,
    ContentNotFoundError,
    LocalStore,
    TruncatedContentError,
    UnsupportedCodecError,
    _varint,
    car,
)
from magnet_market.storage.cid import CID, RAW


def _export(store: LocalStore, cid: CID) -> bytes:
    out = io.BytesIO()
    store.export_car(cid, out)
    return out.getvalue()


@pytest.mark.parametrize("version", [0, 1])
def test_round_trip_between_stores(local: LocalStore, tmp_path: Path, version: int) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 1)
    cid = local.add_bytes(data, cid_version=version)
    raw = _export(local, cid)
    (tmp_path / "x.car").write_bytes(raw)
    assert aleph_cid.read_carv1_root(tmp_path / "x.car") == str(cid)

    other = LocalStore(tmp_path / "other")
    assert other.import_car(io.BytesIO(raw)) == [cid]
    assert other.pins() == [cid]
    assert other.get(cid) == data


def test_imports_a_car_written_by_aleph_cid(local: LocalStore, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "model.bin").write_bytes(os.urandom(2 * CHUNK_SIZE))
    (folder / "meta.json").write_text("{}")
    root = aleph_cid.write_folder_car(folder, tmp_path / "f.car")
    with (tmp_path / "f.car").open("rb") as f:
        assert [str(c) for c in local.import_car(f)] == [root]
    local.get_to_path(root, tmp_path / "out")
    assert (tmp_path / "out" / "model.bin").read_bytes() == (folder / "model.bin").read_bytes()


def test_header_round_trip() -> None:
    roots = [CID.for_block(b"a", RAW), CID.parse("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")]
    assert car.decode_header(car.encode_header(roots)) == roots


def _car(local: LocalStore) -> tuple[CID, bytes]:
    cid = local.add_bytes(os.urandom(2 * CHUNK_SIZE))
    return cid, _export(local, cid)


def test_truncated_car(local: LocalStore, tmp_path: Path) -> None:
    _, raw = _car(local)
    for cut in (len(raw) - 1, len(raw) - CHUNK_SIZE // 2, 3):
        with pytest.raises(TruncatedContentError):
            LocalStore(tmp_path / f"t{cut}").import_car(io.BytesIO(raw[:cut]))


def test_tampered_block_in_car(local: LocalStore, tmp_path: Path) -> None:
    _, raw = _car(local)
    tampered = raw[:-1] + bytes([raw[-1] ^ 1])
    target = LocalStore(tmp_path / "t")
    with pytest.raises(CIDMismatchError):
        target.import_car(io.BytesIO(tampered))


def test_incomplete_car_cannot_be_pinned(local: LocalStore, tmp_path: Path) -> None:
    cid = local.add_bytes(os.urandom(2 * CHUNK_SIZE))
    out = io.BytesIO()
    blocks = list(car.iter_blocks(_seek_blocks(_export(local, cid))))
    car.write_car([cid], blocks[:-1], out)  # drop the last leaf
    with pytest.raises(ContentNotFoundError):
        LocalStore(tmp_path / "t").import_car(io.BytesIO(out.getvalue()))


def _seek_blocks(raw: bytes) -> io.BytesIO:
    stream = io.BytesIO(raw)
    car.read_header(stream)
    return stream


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        _varint.encode(5) + b"\xa0\x00\x00\x00\x00",  # a map with trailing junk
        _varint.encode(1) + b"\xa0",  # an empty map: no version
        _varint.encode(3) + b"\x81\x01\x02",  # not a map
        _varint.encode(1 << 30),  # absurd header length
    ],
)
def test_bad_headers(raw: bytes) -> None:
    with pytest.raises(CARFormatError):
        car.read_header(io.BytesIO(raw))


def test_version_2_is_refused() -> None:
    header = car.encode_header([CID.for_block(b"", RAW)]).replace(b"version\x01", b"version\x02")
    with pytest.raises(CARFormatError, match="version 1"):
        car.read_header(io.BytesIO(_varint.encode(len(header)) + header))


def test_unknown_codec_block(tmp_path: Path) -> None:
    cbor_cid = _varint.encode(1) + _varint.encode(0x71) + b"\x12\x20" + bytes(32)
    section = cbor_cid + b"\xa0"
    raw = io.BytesIO()
    car.write_car([CID.for_block(b"", RAW)], [], raw)
    raw.write(_varint.encode(len(section)) + section)
    with pytest.raises(UnsupportedCodecError):
        LocalStore(tmp_path / "t").import_car(io.BytesIO(raw.getvalue()))
