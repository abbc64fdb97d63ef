"""Streaming safetensors I/O: the writer matches Checkpoint.to_bytes; the reader checks bounds."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from magnet_market.bitnet.checkpoint import Checkpoint
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import ClassifierConfig, build_model
from magnet_market.bitnet.safetensors_io import HeaderError
from magnet_market.diloco._reader import TensorFile, load_into
from magnet_market.diloco._writer import streaming_writer
from magnet_market.diloco.errors import MergeInputError
from magnet_market.diloco.outer import DilocoMerger

TENSORS = {
    "model.b": torch.arange(6, dtype=torch.float32).view(2, 3),
    "model.a": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
    "model.empty": torch.zeros(0, 4),
    "z.count": torch.tensor([7], dtype=torch.int64),
}


def specs():
    return [(n, t.dtype, tuple(t.shape)) for n, t in TENSORS.items()]


def test_streamed_file_equals_to_bytes(tmp_path):
    ck = Checkpoint(dict(TENSORS), ClassifierConfig(), step=3, parent_cid="bafyx")
    with streaming_writer(tmp_path / "s.safetensors", specs(), ck.metadata()) as w:
        for name in sorted(TENSORS):
            w.write(name, TENSORS[name])
    assert (tmp_path / "s.safetensors").read_bytes() == ck.to_bytes()


def test_out_of_order_or_missing_tensors_leave_no_file(tmp_path):
    path = tmp_path / "s.safetensors"
    with (
        pytest.raises(ValueError, match=r"expected model\.a"),
        streaming_writer(path, specs(), {}) as w,
    ):
        w.write("model.b", TENSORS["model.b"])
    with pytest.raises(ValueError, match="never written"), streaming_writer(path, specs(), {}) as w:
        w.write("model.a", TENSORS["model.a"])
    assert list(tmp_path.iterdir()) == []


def test_reader_returns_every_tensor_and_the_metadata(tmp_path):
    ck = Checkpoint(dict(TENSORS), ClassifierConfig(), parent_cid="bafyx")
    path = ck.save(tmp_path / "c.safetensors")
    with TensorFile(path) as f:
        assert f.metadata == ck.metadata()
        assert set(f.specs) == set(TENSORS)
        for name, t in TENSORS.items():
            assert torch.equal(f.get(name), t) and f.get(name).dtype == t.dtype


def test_reader_refuses_out_of_bounds_offsets(tmp_path):
    header = json.dumps({"model.w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}})
    path = tmp_path / "evil.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + b"\0" * 16)
    with pytest.raises(HeaderError, match="out of range"):
        TensorFile(path)
    path.write_bytes(b"\xff" * 16)
    with pytest.raises(HeaderError, match="header length"):
        TensorFile(path)


def test_merge_names_the_bad_input(tmp_path, write_ckpt):
    parent = write_ckpt("parent", {"model.w": [1.0, 2.0]})
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(b"\xff" * 16)
    with pytest.raises(MergeInputError, match=r"evil\.safetensors: .*header length"):
        DilocoMerger().merge(parent, [evil], tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_load_into_streams_the_model_tensors_only(tmp_path):
    cfg = ClassifierConfig(hidden=4)
    torch.manual_seed(0)
    source = build_model(cfg)
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    momentum = {f"outer_momentum.{k}": torch.ones_like(v) for k, v in source.state_dict().items()}
    path = Checkpoint({**state, **momentum}, cfg).save(tmp_path / "m.safetensors")
    target = build_model(cfg)
    with TensorFile(path) as f:
        load_into(target, f)
    for k, v in source.state_dict().items():
        assert torch.equal(target.state_dict()[k], v)
    wrong = Checkpoint({"model.other": torch.zeros(1)}, cfg).save(tmp_path / "w.safetensors")
    with TensorFile(wrong) as f, pytest.raises(CheckpointError, match="does not fit the model"):
        load_into(target, f)
