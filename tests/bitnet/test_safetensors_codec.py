"""The safetensors codec: pinned bytes (CIDs are on chain) and refusal of malformed headers."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
import torch

from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.checkpoint import Checkpoint
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import ClassifierConfig
from magnet_market.bitnet.safetensors_io import (
    BY_CODE,
    BY_TORCH,
    DTYPES,
    HeaderError,
    TensorSpec,
    decode_header,
    encode_header,
)

# sha256 of PINNED.to_bytes() as the writer made it before the codec was factored out (commit
# e808677, ``checkpoint._serialize``); the merged file's pin is from ``diloco._writer`` then.
# Changing either changes the CID of every checkpoint and merge: never update them to pass.
PINNED_SHA256 = "62c3d3cd42e1aa9bb7971a84d176ef8b0820ec8188643bf17fb313034ecbf30f"
PINNED_MERGE_SHA256 = "6e276c90e38254476f451482df08e14e9ab3155ab3b8845c0ebda44c7cba5644"


def pinned_tensors() -> dict[str, torch.Tensor]:
    """Every stored dtype, a scalar and an empty tensor; exact values, no random numbers."""
    f = torch.arange(-6, 6, dtype=torch.float64) / 7
    return {
        "model.w64": f.view(3, 4),
        "model.w32": f.float().view(2, 2, 3),
        "model.w16": f.half(),
        "model.wbf": f.bfloat16().view(4, 3),
        "model.scalar": torch.tensor(0.5),
        "model.empty": torch.zeros(0, 3),
        "optim.i64": torch.arange(5, dtype=torch.int64) - 2,
        "optim.i32": torch.arange(3, dtype=torch.int32) * -7,
        "optim.i16": torch.arange(4, dtype=torch.int16),
        "optim.i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "optim.u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "optim.flags": torch.tensor([True, False, True]),
    }


PINNED = Checkpoint(
    pinned_tensors(),
    ClassifierConfig(hidden=4),
    step=42,
    parent_cid="bafyparent",
    metrics={"val_loss": 1.25, "acc": 0.5},
    extra={"train": '{"batch_size":8}', "note": "caf\u00e9"},
)


def test_checkpoint_bytes_are_pinned():
    data = PINNED.to_bytes()
    assert hashlib.sha256(data).hexdigest() == PINNED_SHA256
    back = checkpoint.from_bytes(data)
    assert back.metadata() == PINNED.metadata()
    for name, t in pinned_tensors().items():
        assert back.tensors[name].dtype == t.dtype and torch.equal(back.tensors[name], t)


def test_streamed_file_has_the_pinned_bytes(tmp_path):
    from magnet_market.diloco._writer import streaming_writer

    tensors = pinned_tensors()
    specs = [TensorSpec(n, t.dtype, tuple(t.shape)) for n, t in tensors.items()]
    with streaming_writer(tmp_path / "s.safetensors", specs, PINNED.metadata()) as w:
        for name in sorted(tensors):
            w.write(name, tensors[name])
    assert hashlib.sha256((tmp_path / "s.safetensors").read_bytes()).hexdigest() == PINNED_SHA256


def test_merged_file_bytes_are_pinned(tmp_path):
    from magnet_market.diloco.outer import DilocoMerger

    cfg = ClassifierConfig(hidden=4)
    base = {"model.a": torch.arange(6.0).view(2, 3) / 4, "model.b": torch.tensor([1.0, -2.0, 0.5])}
    parent = Checkpoint(base, cfg, step=1).save(tmp_path / "p.safetensors")
    subs = [
        Checkpoint({k: v + (i + 1) / 8 for k, v in base.items()}, cfg, step=2).save(
            tmp_path / f"c{i}.safetensors"
        )
        for i in range(3)
    ]
    out = DilocoMerger().merge(
        parent, subs, tmp_path / "m.safetensors", weights=[1.0, 2.0, 1.0], parent_cid="bafyp"
    )
    assert hashlib.sha256(out.path.read_bytes()).hexdigest() == PINNED_MERGE_SHA256


def test_dtype_table_is_consistent():
    assert len(BY_TORCH) == len(BY_CODE) == len(DTYPES)
    for d in DTYPES:
        assert torch.empty((), dtype=d.torch).element_size() == d.size


def test_header_is_sorted_padded_and_independent_of_input_order():
    specs = [TensorSpec("b", torch.float32, (2,)), TensorSpec("a", torch.int8, (3,))]
    h = encode_header(specs, {"z": "1", "a": "2"})
    assert h == encode_header(specs[::-1], {"a": "2", "z": "1"})
    (n,) = struct.unpack("<Q", h[:8])
    assert n % 8 == 0 and len(h) == 8 + n
    header = json.loads(h[8:])
    assert list(header) == ["__metadata__", "a", "b"] and list(header["__metadata__"]) == ["a", "z"]
    assert header["b"]["data_offsets"] == [3, 11]
    with pytest.raises(ValueError, match="cannot be stored"):
        encode_header([TensorSpec("c", torch.complex64, (1,))], {})
    with pytest.raises(ValueError, match="unique"):
        encode_header(specs + specs[:1], {})


def blob(entries: dict, data: bytes = b"", metadata: object = None) -> bytes:
    header = dict(entries) if metadata is None else {"__metadata__": metadata, **entries}
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def decode(data: bytes):
    return decode_header(lambda offset, n: data[offset : offset + n], len(data))


def f32(offsets: list, shape: list | None = None) -> dict:
    return {"dtype": "F32", "shape": shape or [1], "data_offsets": offsets}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"abc", "shorter than its 8-byte header length"),
        (struct.pack("<Q", 100) + b"{}", "header length 100 is invalid"),
        (struct.pack("<Q", 1 << 40) + b"{}", "header length"),
        (struct.pack("<Q", 2) + b"\xff\xfe", "not JSON"),
        (blob({}, metadata=[]), "metadata must map strings to strings"),
        (blob({}, metadata={"step": 3}), "metadata must map strings to strings"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (blob({"w": {"dtype": "F32"}}), "needs exactly dtype, shape, data_offsets"),
        (blob({"w": {**f32([0, 4]), "dtype": "C64"}}, b"\0" * 4), "unknown dtype 'C64'"),
        (blob({"w": f32([0, 4], [-1])}, b"\0" * 4), "not a list of sizes"),
        (blob({"w": f32([0, 4], [True])}, b"\0" * 4), "not a list of sizes"),
        (blob({"w": f32([0, 4.0])}, b"\0" * 4), "is not [start, end]"),
        (blob({"w": f32([0, 4000], [1000])}, b"\0" * 16), "out of range"),
        (blob({"w": f32([4, 0])}, b"\0" * 4), "out of range"),
        (blob({"w": f32([0, 8])}, b"\0" * 8), "needs 4 bytes, data_offsets span 8"),
        (blob({"v": f32([0, 4]), "w": f32([2, 6])}, b"\0" * 6), "overlaps"),
        (blob({"v": f32([0, 4]), "w": f32([0, 4])}, b"\0" * 4), "overlaps"),
        (blob({"w": f32([4, 8])}, b"\0" * 8), "leaves a gap"),
        (blob({"w": f32([0, 4])}, b"\0" * 5), "1 bytes after the last tensor"),
    ],
)
def test_malformed_or_tampered_headers_are_refused(data, message):
    with pytest.raises(HeaderError, match=message.replace("[", r"\[")):
        decode(data)
    with pytest.raises(CheckpointError):  # what checkpoint loading sees
        checkpoint.from_bytes(data)


def test_a_valid_header_decodes_to_its_locations():
    data = blob({"w": f32([0, 8], [2]), "e": f32([8, 8], [0, 5])}, b"\0" * 8, metadata={"k": "v"})
    header = decode(data)
    start = len(data) - 8
    assert header.metadata == {"k": "v"}
    assert header.tensors["w"] == (TensorSpec("w", torch.float32, (2,)), start, start + 8)
    assert header.specs["e"] == TensorSpec("e", torch.float32, (0, 5))
