"""The tinylm task data: stdlib sources, deterministic split by file, batches and metrics."""

from __future__ import annotations

import math
import sysconfig
from pathlib import Path

import pytest
import torch
from torch import nn

from magnet_market.tasks import tinylm
from magnet_market.tasks.tinylm import TinyLMData, decode, encode


@pytest.fixture(scope="module")
def small() -> TinyLMData:
    return TinyLMData(seq_len=16, max_train_bytes=64 << 10, max_val_bytes=16 << 10, eval_batches=2)


def test_reads_the_running_pythons_stdlib(small):
    root = Path(sysconfig.get_path("stdlib"))
    first = small.files["train"][0]
    text = (root / first).read_bytes()
    assert bytes(small.train[: len(text)].tolist()) == text[: small.train.numel()]
    assert small.train.numel() == 64 << 10 and small.val.numel() == 16 << 10
    assert all(f.endswith(".py") and "site-packages" not in f for f in small.files["train"])


def test_split_is_by_file_and_deterministic(small):
    assert not set(small.files["train"]) & set(small.files["val"])
    again = TinyLMData(seq_len=16, max_train_bytes=64 << 10, max_val_bytes=16 << 10)
    assert again.files == small.files
    assert torch.equal(again.train, small.train) and torch.equal(again.val, small.val)
    for f in small.files["val"]:
        assert tinylm.is_val_file(f, 10)
    for f in small.files["train"]:
        assert not tinylm.is_val_file(f, 10)


def test_split_on_a_custom_tree(tmp_path):
    for i in range(40):
        (tmp_path / f"m{i:02d}.py").write_text(f"x = {i}\n" * 20)
    (tmp_path / "site-packages").mkdir()
    (tmp_path / "site-packages" / "evil.py").write_text("EVIL\n" * 100)
    d = TinyLMData(seq_len=8, root=tmp_path, val_percent=25)
    names = sorted(d.files["train"] + d.files["val"])
    assert names == [f"m{i:02d}.py" for i in range(40)]
    assert b"EVIL" not in bytes(d.train.tolist()) + bytes(d.val.tolist())
    assert 0 < len(d.files["val"]) < 20
    assert d.train.numel() == sum(
        len(f"x = {i}\n" * 20) + 1 for i in range(40) if f"m{i:02d}.py" in d.files["train"]
    )


def test_batches_are_shifted_windows(small):
    g = torch.Generator().manual_seed(0)
    x, y = small.get_batch("train", 4, g)
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(small.get_batch("train", 4, g2)[0], x)
    with pytest.raises(ValueError, match="'train' or 'val'"):
        small.get_batch("test", 1, g)


class Uniform(nn.Module):
    def forward(self, x, y):
        logits = torch.zeros(*x.shape, 256)
        return logits, nn.functional.cross_entropy(logits.view(-1, 256), y.view(-1))


def test_metrics_for_a_uniform_model_are_8_bits_per_byte(small):
    m = small.evaluate(Uniform())
    assert m["val_loss"] == pytest.approx(math.log(256))
    assert m["val_bpb"] == pytest.approx(8.0)


def test_encode_decode_roundtrip():
    assert decode(encode("héllo ✓")) == "héllo ✓"
    assert decode([0xE2, 0x9C]) == "\ufffd"


def test_argument_errors():
    with pytest.raises(ValueError, match="val_percent"):
        TinyLMData(val_percent=0)
    with pytest.raises(FileNotFoundError, match="root="):
        tinylm.stdlib_files(Path("/nonexistent"))
