"""The DiLoCo outer step: hand-checked numbers, torch.optim.SGD parity, chaining, golden file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from magnet_market.bitnet import checkpoint
from magnet_market.diloco import AggregationConfig, DilocoMerger, OuterConfig
from magnet_market.diloco.errors import MergeInputError, NonFiniteMergeError

FIXTURES = Path(__file__).parent / "fixtures"
MEAN = AggregationConfig(method="mean", clip_multiple=None)


def tensors(path):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def test_two_contributors_by_hand(write_ckpt, tmp_path):
    parent = write_ckpt("parent", {"model.w": [1.0, 2.0]})
    a = write_ckpt("a", {"model.w": [0.0, 2.0]})  # g_a = [1, 0]
    b = write_ckpt("b", {"model.w": [0.5, 1.0]})  # g_b = [0.5, 1]
    res = DilocoMerger(aggregation=MEAN).merge(parent, [a, b], tmp_path / "m.safetensors")
    got = tensors(res.path)
    # g = [0.75, 0.5]; m = g; step = 0.7 * (g + 0.9 m) = 1.33 g
    assert torch.allclose(got["outer_momentum.w"], torch.tensor([0.75, 0.5]))
    assert torch.allclose(
        got["model.w"], torch.tensor([1 - 1.33 * 0.75, 2 - 1.33 * 0.5]), atol=1e-6
    )
    assert res.pseudo_gradient_norms == pytest.approx([1.0, 1.25**0.5])
    assert res.update_norm == pytest.approx((0.75**2 + 0.5**2) ** 0.5)


def test_weights_shift_the_average(write_ckpt, tmp_path):
    parent = write_ckpt("parent", {"model.w": [0.0]})
    a = write_ckpt("a", {"model.w": [-1.0]})  # g = 1
    b = write_ckpt("b", {"model.w": [-4.0]})  # g = 4
    merger = DilocoMerger(OuterConfig(lr=1.0, momentum=0.0), MEAN)
    res = merger.merge(parent, [a, b], tmp_path / "m.safetensors", weights=[3.0, 1.0])
    assert tensors(res.path)["model.w"].item() == pytest.approx(-(3 * 1 + 4) / 4)


def test_matches_torch_sgd_nesterov_over_rounds(write_ckpt, tmp_path):
    """Three chained rounds equal three torch.optim.SGD(nesterov) steps on the mean pseudo-grad."""
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(3, 4, generator=gen)
    ref = torch.nn.Parameter(theta.clone())
    opt = torch.optim.SGD([ref], lr=0.7, momentum=0.9, nesterov=True)
    parent = write_ckpt("r0", {"model.w": theta})
    for r in range(3):
        locals_ = [ref.detach() - 0.1 * torch.randn(3, 4, generator=gen) for _ in range(3)]
        subs = [write_ckpt(f"r{r}c{i}", {"model.w": t}) for i, t in enumerate(locals_)]
        opt.zero_grad()
        ref.grad = torch.stack([ref.detach() - t for t in locals_]).mean(0)
        opt.step()
        parent = DilocoMerger(aggregation=MEAN).merge(parent, subs, tmp_path / f"m{r}.st").path
        got = tensors(parent)
        assert torch.allclose(got["model.w"], ref.detach(), atol=1e-6)
        assert torch.allclose(got["outer_momentum.w"], opt.state[ref]["momentum_buffer"], atol=1e-6)
    assert checkpoint.load(parent).step == 3  # one outer step per round


def test_merged_file_is_a_deterministic_checkpoint(write_ckpt, tmp_path):
    """The streamed file equals Checkpoint.to_bytes of the same content (same bytes, same CID)."""
    parent = write_ckpt("parent", {"model.a": [[1.0, 2.0]], "model.b": [3.0]}, step=4)
    sub = write_ckpt("sub", {"model.a": [[0.5, 2.5]], "model.b": [2.0]})
    out = DilocoMerger().merge(parent, [sub], tmp_path / "m.safetensors", parent_cid="bafyparent")
    ck = checkpoint.load(out.path)
    assert ck.parent_cid == "bafyparent" and ck.step == 5
    assert json.loads(ck.extra["diloco"])["outer"] == {"lr": 0.7, "momentum": 0.9, "nesterov": True}
    assert out.path.read_bytes() == ck.to_bytes()
    again = DilocoMerger().merge(
        parent, [sub], tmp_path / "m2.safetensors", parent_cid="bafyparent"
    )
    assert again.path.read_bytes() == out.path.read_bytes()


def test_mismatched_contribution_is_refused(write_ckpt, tmp_path):
    parent = write_ckpt("parent", {"model.w": [1.0, 2.0]})
    bad = write_ckpt("bad", {"model.w": [1.0, 2.0, 3.0]})
    with pytest.raises(MergeInputError, match="does not match the parent"):
        DilocoMerger().merge(parent, [bad], tmp_path / "m.safetensors")
    with pytest.raises(MergeInputError, match="positive weight"):
        DilocoMerger().merge(parent, [parent], tmp_path / "m.safetensors", weights=[0.0])
    with pytest.raises(ValueError, match=r"DiLoCo uses 0\.9"):
        OuterConfig(momentum=1.0)


def test_non_finite_merge_is_discarded(write_ckpt, tmp_path):
    parent = write_ckpt("parent", {"model.w": [1.0]})
    huge = write_ckpt("huge", {"model.w": [-3e38]})
    out = tmp_path / "m.safetensors"
    with pytest.raises(NonFiniteMergeError, match="parent stays"):
        DilocoMerger(aggregation=MEAN).merge(parent, [huge], out)
    assert list(tmp_path.glob("m*")) == [] and not any(
        p.suffix == ".tmp" for p in tmp_path.iterdir()
    )


def test_golden_two_rounds(request, tmp_path):
    """Regression fixture for the default (robust) merger (regenerate with WRITE_FIXTURE=true)."""
    from magnet_market.bitnet.checkpoint import Checkpoint
    from magnet_market.bitnet.model import ClassifierConfig, build_model

    cfg = ClassifierConfig(n_features=6, n_classes=3, hidden=4, n_layers=1)
    torch.manual_seed(0)
    state = {f"model.{k}": v for k, v in build_model(cfg).state_dict().items()}
    parent = Checkpoint(state, cfg).save(tmp_path / "r0.safetensors")
    gen = torch.Generator().manual_seed(1)
    for r in range(2):
        base = checkpoint.load(parent).tensors
        subs = []
        for i in range(4):
            scale = 100.0 if i == 3 else 0.05  # one poisoned contributor per round
            t = {
                k: v - scale * torch.randn(v.shape, generator=gen)
                for k, v in sorted(base.items())
                if k.startswith("model.")
            }
            subs.append(Checkpoint(t, cfg).save(tmp_path / f"r{r}c{i}.safetensors"))
        parent = DilocoMerger().merge(parent, subs, tmp_path / f"m{r}.safetensors").path
    got = {
        k: [round(x, 6) for x in v.flatten().tolist()] for k, v in sorted(tensors(parent).items())
    }
    path = FIXTURES / f"{request.node.name}.json"
    if os.environ.get("WRITE_FIXTURE") == "true":
        path.write_text(json.dumps(got, indent=1) + "\n")
    assert got == json.loads(path.read_text())


def test_chunked_aggregation_gives_the_same_bytes(write_ckpt, tmp_path, monkeypatch):
    from magnet_market.diloco import outer

    gen = torch.Generator().manual_seed(3)
    parent = write_ckpt("parent", {"model.w": torch.randn(5, 7, generator=gen)})
    subs = [write_ckpt(f"c{i}", {"model.w": torch.randn(5, 7, generator=gen)}) for i in range(4)]
    whole = DilocoMerger().merge(parent, subs, tmp_path / "whole.safetensors").path.read_bytes()
    monkeypatch.setattr(outer, "CHUNK", 3)  # 35 coordinates in 12 chunks, the last one short
    chunked = DilocoMerger().merge(parent, subs, tmp_path / "chunked.safetensors").path.read_bytes()
    assert chunked == whole
