"""The tinylm task data: stdlib sources, deterministic split by file, batches and metrics."""

from __future__ import annotations

import hashlib
import json
import lzma
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


def test_the_frozen_corpus_never_reads_the_interpreters_files(monkeypatch):
    def no_stdlib(*_: object) -> str:
        raise AssertionError("the tinylm data read the running interpreter's standard library")

    monkeypatch.setattr(sysconfig, "get_path", no_stdlib)
    data = TinyLMData(seq_len=16)
    manifest = json.loads((tinylm.CORPUS_DIR / tinylm.CORPUS_MANIFEST).read_text())
    assert data.python_version == manifest["python_version"]  # the corpus's, not ours
    for split, stream in (("train", data.train), ("val", data.val)):
        digest = hashlib.sha256(bytes(stream.numpy())).hexdigest()
        assert digest == manifest["sha256"][split]
        assert data.files[split] == manifest["files"][split]
    assert all(f.endswith(".py") and "site-packages" not in f for f in data.files["train"])


def _tree(root: Path, n: int = 40) -> Path:
    root.mkdir()
    for i in range(n):
        (root / f"m{i:02d}.py").write_text(f"x = {i}\n" * (20 + i))
    return root


def test_a_frozen_tree_loads_back_as_the_tree_itself(tmp_path):
    tree = _tree(tmp_path / "src")
    manifest = tinylm.freeze_corpus(tree, tmp_path / "corpus", 2000, 600, val_percent=25)
    assert manifest["bytes"] == {"train": 2000, "val": 600}
    for caps in ((2000, 600), (900, 250)):  # a smaller cap is a prefix of the frozen streams
        frozen = TinyLMData(
            seq_len=8,
            max_train_bytes=caps[0],
            max_val_bytes=caps[1],
            val_percent=25,
            corpus=tmp_path / "corpus",
        )
        built = TinyLMData(
            seq_len=8, max_train_bytes=caps[0], max_val_bytes=caps[1], val_percent=25, root=tree
        )
        assert torch.equal(frozen.train, built.train) and torch.equal(frozen.val, built.val)
        assert frozen.files == built.files


def test_a_damaged_or_too_small_corpus_is_refused(tmp_path):
    tree = _tree(tmp_path / "src")
    tinylm.freeze_corpus(tree, tmp_path / "corpus", 2000, 600, val_percent=25)
    options = {"seq_len": 8, "val_percent": 25, "corpus": tmp_path / "corpus"}
    with pytest.raises(ValueError, match="holds 2000 train bytes, fewer than 4000"):
        TinyLMData(max_train_bytes=4000, max_val_bytes=600, **options)
    with pytest.raises(ValueError, match="splits 25 % of files for validation, not 10"):
        TinyLMData(max_train_bytes=2000, max_val_bytes=600, **{**options, "val_percent": 10})
    stream = tmp_path / "corpus" / "tinylm-val.bin.xz"
    stream.write_bytes(lzma.compress(lzma.decompress(stream.read_bytes())[::-1]))
    with pytest.raises(ValueError, match="val stream does not match its SHA-256"):
        TinyLMData(max_train_bytes=2000, max_val_bytes=600, **options)


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
