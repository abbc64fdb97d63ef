"""Models: shapes, config validation, KV cache, packed inference against the reference."""

from __future__ import annotations

import pytest
import torch

from magnet_market.bitnet import export
from magnet_market.bitnet.generate import SampleConfig, generate, generate_no_cache, pick
from magnet_market.bitnet.layers import BitLinear, BitLinearKernel, NormLinear
from magnet_market.bitnet.model import (
    ClassifierConfig,
    KVCache,
    MLPClassifier,
    Transformer,
    TransformerConfig,
    config_from_dict,
    config_to_dict,
)

TINY = TransformerConfig(seq_len=32, d_model=32, n_layers=2, n_heads=2)


def tiny_lm(**kw) -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig(**{**TINY.__dict__, **kw}))


def test_transformer_shapes_and_initial_loss():
    m = tiny_lm()
    idx = torch.randint(0, 256, (3, 32))
    logits, loss = m(idx, idx)
    assert logits.shape == (3, 32, 256)
    assert abs(float(loss.detach()) - torch.log(torch.tensor(256.0))) < 0.1  # uniform at init
    kinds = {type(mod) for mod in m.modules()}
    assert BitLinear in kinds and NormLinear not in kinds
    assert sum(isinstance(mod, BitLinear) for mod in m.modules()) == 4 * 2  # qkv, proj, fc, proj
    assert isinstance(m.head, torch.nn.Linear) and not isinstance(m.head, BitLinear)


def test_fp_baseline_has_same_shape():
    a, b = tiny_lm(), tiny_lm(bitnet=False)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    assert not any(isinstance(mod, BitLinear) for mod in b.modules())


def test_config_validation_and_roundtrip():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        TransformerConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        TransformerConfig(n_layers=0)
    with pytest.raises(ValueError, match="use_kernel=True needs bitnet=True"):
        ClassifierConfig(bitnet=False, use_kernel=True)
    for cfg in (TINY, ClassifierConfig(hidden=16)):
        assert config_from_dict(config_to_dict(cfg)) == cfg
    with pytest.raises(ValueError, match="unknown transformer config keys"):
        config_from_dict({**config_to_dict(TINY), "evil": 1})


def test_causality():
    m = tiny_lm()
    idx = torch.randint(0, 256, (1, 20))
    idx2 = idx.clone()
    idx2[0, 15] = (idx[0, 15] + 1) % 256
    with torch.no_grad():
        a, _ = m(idx)
        b, _ = m(idx2)
    assert torch.equal(a[0, :15], b[0, :15])
    assert not torch.equal(a[0, 15:], b[0, 15:])


def test_kv_cache_matches_full_forward():
    m = tiny_lm().eval()
    idx = torch.randint(0, 256, (2, 30))
    cache = KVCache(m.config, 2)
    with torch.no_grad():
        full, _ = m(idx)
        parts = [m(idx[:, :11], cache=cache)[0]] + [
            m(idx[:, t : t + 1], cache=cache)[0] for t in range(11, 30)
        ]
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="exceeds seq_len"):
        m(torch.zeros(1, 3, dtype=torch.long), cache=cache)


def test_packed_model_matches_reference_model():
    m = tiny_lm().eval()
    packed = export.to_kernel_model(m)
    assert packed.config.use_kernel
    assert sum(isinstance(mod, BitLinearKernel) for mod in packed.modules()) == 8
    idx = torch.randint(0, 256, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(packed(idx)[0], m(idx)[0], rtol=1e-3, atol=1e-3)


def test_classifier_reference_and_packed():
    torch.manual_seed(0)
    c = MLPClassifier(ClassifierConfig(n_features=20, n_classes=3, hidden=24, n_layers=2)).eval()
    x = torch.randn(5, 20)
    logits, loss = c(x, torch.tensor([0, 1, 2, 0, 1]))
    assert logits.shape == (5, 3) and loss.ndim == 0
    with torch.no_grad():
        torch.testing.assert_close(export.to_kernel_model(c)(x)[0], logits, rtol=1e-3, atol=1e-3)


def test_cached_generation_equals_recompute_and_is_deterministic():
    m = export.to_kernel_model(tiny_lm())
    prompt = torch.tensor([10, 20, 30, 40])
    for cfg in (
        SampleConfig(max_new_tokens=20),
        SampleConfig(max_new_tokens=20, temperature=0.9, top_k=5, seed=3),
    ):
        got = generate(m, prompt, cfg)
        assert got.tokens == generate_no_cache(m, prompt, cfg)
        assert got.tokens == generate(m, prompt, cfg).tokens
        assert got.tokens_per_second > 0


def test_generation_past_context_window_keeps_going():
    m = export.to_kernel_model(tiny_lm(seq_len=8))
    out = generate(m, torch.tensor([1, 2, 3]), SampleConfig(max_new_tokens=30))
    assert len(out.tokens) == 30 and all(0 <= t < 256 for t in out.tokens)


def test_pick_greedy_and_top_k():
    logits = torch.tensor([[0.0, 5.0, 4.0, -1.0]])
    g = torch.Generator().manual_seed(0)
    assert int(pick(logits, SampleConfig(), g)[0]) == 1
    seen = {int(pick(logits, SampleConfig(temperature=5.0, top_k=2), g)[0]) for _ in range(200)}
    assert seen == {1, 2}
    with pytest.raises(ValueError, match="top_k"):
        SampleConfig(top_k=0)
