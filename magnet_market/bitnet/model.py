"""BitNet b1.58 models: a tiny decoder-only transformer and an MLP classifier.

Layout after karpathy/nanoGPT ``model.py``: config first, then modules in data-flow order.
Every projection in attention and MLP is a BitLinear (which RMS-normalizes its own input, the
"SubLN" placement of BitNet b1.58, so blocks need no separate pre-norm); embeddings, the final
norm and the head stay full precision. ``bitnet=False`` builds the same shape with full-precision
linears (the fp32 baseline); ``use_kernel=True`` swaps in packed 2-bit layers for inference.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from magnet_market.bitnet.layers import RMSNorm, init_linear, make_linear


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the decoder-only transformer."""

    vocab_size: int = 256  # byte-level: every byte is a token, no tokenizer to ship
    seq_len: int = 256  # context length (learned absolute positions)
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: int = 4  # hidden = mlp_ratio * d_model, squared-ReLU as in BitNet b1.58 2B4T
    bitnet: bool = True  # False: same model with full-precision linears (baseline)
    use_kernel: bool = False  # True: packed 2-bit weights + native kernel (inference only)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "d_model", "n_layers", "n_heads", "mlp_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}; "
                "change one of them"
            )
        if self.use_kernel and not self.bitnet:
            raise ValueError("use_kernel=True needs bitnet=True")


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of the BitLinear MLP classifier."""

    n_features: int = 64  # digits: 8x8 images
    n_classes: int = 10
    hidden: int = 128
    n_layers: int = 2  # hidden BitLinear layers; the head is full precision
    bitnet: bool = True
    use_kernel: bool = False

    def __post_init__(self) -> None:
        for name in ("n_features", "n_classes", "hidden", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.use_kernel and not self.bitnet:
            raise ValueError("use_kernel=True needs bitnet=True")


ModelConfig = TransformerConfig | ClassifierConfig


def config_to_dict(cfg: ModelConfig) -> dict:
    """``{"kind": ..., **fields}``, the JSON stored in checkpoint metadata."""
    kind = "transformer" if isinstance(cfg, TransformerConfig) else "classifier"
    return {"kind": kind, **dataclasses.asdict(cfg)}


def config_from_dict(d: dict) -> ModelConfig:
    """Inverse of :func:`config_to_dict`; unknown keys are an error, not silently dropped."""
    d = dict(d)
    kind = d.pop("kind", None)
    cls = {"transformer": TransformerConfig, "classifier": ClassifierConfig}.get(kind)
    if cls is None:
        raise ValueError(f"unknown model kind {kind!r}; expected 'transformer' or 'classifier'")
    names = {f.name for f in dataclasses.fields(cls)}
    if set(d) - names:
        raise ValueError(f"unknown {kind} config keys {sorted(set(d) - names)}")
    return cls(**d)


# --------------------------------------------------------------------------- transformer


class KVCache:
    """Per-layer key/value buffers ``(B, nh, seq_len, hs)`` filled left to right."""

    def __init__(self, cfg: TransformerConfig, batch: int) -> None:
        hs = cfg.d_model // cfg.n_heads
        shape = (batch, cfg.n_heads, cfg.seq_len, hs)
        self.k = [torch.zeros(shape) for _ in range(cfg.n_layers)]
        self.v = [torch.zeros(shape) for _ in range(cfg.n_layers)]
        self.pos = 0  # tokens already cached


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.nh = cfg.n_heads
        self.qkv = make_linear(
            cfg.d_model, 3 * cfg.d_model, bitnet=cfg.bitnet, use_kernel=cfg.use_kernel
        )
        self.proj = make_linear(
            cfg.d_model, cfg.d_model, bitnet=cfg.bitnet, use_kernel=cfg.use_kernel
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (
            t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v)
        )  # (B, nh, T, hs)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            p = cache.pos
            cache.k[layer][:, :, p : p + T] = k
            cache.v[layer][:, :, p : p + T] = v
            k, v = cache.k[layer][:, :, : p + T], cache.v[layer][:, :, : p + T]  # (B, nh, p+T, hs)
            # query i sits at absolute position p + i and sees keys 0 .. p + i
            mask = torch.ones(T, p + T, dtype=torch.bool).tril(diagonal=p)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        h = cfg.mlp_ratio * cfg.d_model
        self.fc = make_linear(cfg.d_model, h, bitnet=cfg.bitnet, use_kernel=cfg.use_kernel)
        self.proj = make_linear(h, cfg.d_model, bitnet=cfg.bitnet, use_kernel=cfg.use_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.relu(self.fc(x)).square())  # squared ReLU


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.attn(x, cache, layer)
        return x + self.mlp(x)


class Transformer(nn.Module):
    """Decoder-only byte-level language model.

    ``forward(idx (B, T), targets (B, T) | None, cache)`` returns ``(logits (B, T, V), loss)``.
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.seq_len, cfg.d_model)
        blocks = [Block(cfg) for _ in range(cfg.n_layers)]
        self.blocks = nn.ModuleList(blocks)
        self.norm = RMSNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
            elif m is self.head:
                init_linear(m, std=0.02)
            else:
                init_linear(m)
        # residual projections scaled down with depth (GPT-2)
        for b in blocks:
            for proj in (b.attn.proj, b.mlp.proj):
                init_linear(proj, std=1.0 / math.sqrt(proj.in_features * 2 * cfg.n_layers))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        T = idx.shape[1]  # idx: (B, T)
        p = 0 if cache is None else cache.pos
        if p + T > self.config.seq_len:
            raise ValueError(f"sequence of {p + T} tokens exceeds seq_len={self.config.seq_len}")
        pos = torch.arange(p, p + T)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.pos += T
        logits = self.head(self.norm(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


# --------------------------------------------------------------------------- classifier


class MLPClassifier(nn.Module):
    """BitLinear MLP: ``n_layers`` x (BitLinear, squared ReLU), then a full-precision head.

    ``forward(x (B, F), targets (B,) | None)`` returns ``(logits (B, classes), loss)``.
    """

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.config = cfg
        dims = [cfg.n_features] + [cfg.hidden] * cfg.n_layers
        self.layers = nn.ModuleList(
            make_linear(a, b, bitnet=cfg.bitnet, use_kernel=cfg.use_kernel)
            for a, b in itertools.pairwise(dims)
        )
        self.norm = RMSNorm(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.n_classes)
        for m in self.layers:
            init_linear(m)
        init_linear(self.head)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, x: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        for layer in self.layers:
            x = F.relu(layer(x)).square()  # (B, hidden)
        logits = self.head(self.norm(x))  # (B, classes)
        loss = None if targets is None else F.cross_entropy(logits, targets)
        return logits, loss


def model_config(model: nn.Module) -> ModelConfig:
    """The config of a model :func:`build_model` built (``TypeError`` for any other module)."""
    cfg = getattr(model, "config", None)
    if not isinstance(cfg, TransformerConfig | ClassifierConfig):
        raise TypeError(
            f"{type(model).__name__} has no TransformerConfig/ClassifierConfig `config`; "
            "expected a model from build_model()"
        )
    return cfg


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model a config describes."""
    if isinstance(cfg, TransformerConfig):
        return Transformer(cfg)
    if isinstance(cfg, ClassifierConfig):
        return MLPClassifier(cfg)
    raise ValueError(f"expected TransformerConfig or ClassifierConfig, got {type(cfg).__name__}")
