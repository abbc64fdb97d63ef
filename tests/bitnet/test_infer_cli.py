"""``magnet infer`` through click's CliRunner on a tiny trained-from-scratch checkpoint."""

from __future__ import annotations

import pickle

import pytest
import torch
from click.testing import CliRunner

from magnet_market.bitnet import export
from magnet_market.bitnet.generate import SampleConfig, generate
from magnet_market.bitnet.model import (
    ClassifierConfig,
    MLPClassifier,
    Transformer,
    TransformerConfig,
)
from magnet_market.bitnet.train import training_checkpoint
from magnet_market.cli import main
from magnet_market.tasks.tinylm import decode, encode

CFG = TransformerConfig(seq_len=64, d_model=32, n_layers=1, n_heads=2)


@pytest.fixture
def lm() -> Transformer:
    torch.manual_seed(0)
    return Transformer(CFG)


def test_infer_greedy_from_packed_checkpoint(lm, tmp_path):
    path = export.export_packed(lm).save(tmp_path / "m.safetensors")
    res = CliRunner().invoke(main, ["infer", str(path), "--prompt", "def f(", "-n", "12"])
    assert res.exit_code == 0, res.output
    want = decode(generate(export.to_kernel_model(lm), encode("def f("), SampleConfig(12)).tokens)
    assert "def f(" + want in res.output
    assert "tokens/s" in res.output and "12" in res.output


def test_infer_packs_a_training_checkpoint(lm, tmp_path):
    path = training_checkpoint(lm, None, 3).save(tmp_path / "t.safetensors")
    args = ["infer", str(path), "-p", "x", "-n", "5", "-t", "0.8", "-k", "3", "--threads", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "tokens/s" in res.output


def test_infer_errors(lm, tmp_path):
    runner = CliRunner()
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"w": 1}))
    res = runner.invoke(main, ["infer", str(evil), "-p", "x"])
    assert res.exit_code == 1 and "Error" in res.output
    torch.manual_seed(0)
    clf = training_checkpoint(MLPClassifier(ClassifierConfig(hidden=8)), None, 0).save(
        tmp_path / "c.safetensors"
    )
    res = runner.invoke(main, ["infer", str(clf), "-p", "x"])  # a classifier reads rows
    assert (
        res.exit_code == 2 and "a classifier reads --rows FILE.csv with --dataset CID" in res.output
    )
    res = runner.invoke(main, ["infer", str(clf)])
    assert res.exit_code == 2 and "--dataset CID" in res.output
    res = runner.invoke(main, ["infer", str(tmp_path / "missing"), "-p", "x"])
    assert res.exit_code == 2
    text = training_checkpoint(lm, None, 0).save(tmp_path / "lm.safetensors")
    res = runner.invoke(main, ["infer", str(text)])
    assert res.exit_code == 2 and "a text model continues --prompt TEXT" in res.output
