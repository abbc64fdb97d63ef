"""Autoregressive generation with a KV cache (greedy or temperature / top-k sampling)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from magnet_market.bitnet.model import KVCache, Transformer


@dataclass(frozen=True)
class SampleConfig:
    """How to pick the next token."""

    max_new_tokens: int = 128
    temperature: float = 0.0  # 0: greedy (argmax); > 0: sample from softmax(logits / T)
    top_k: int | None = None  # sample only among the k most likely tokens
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {self.top_k}")


def pick(logits: torch.Tensor, cfg: SampleConfig, gen: torch.Generator) -> torch.Tensor:
    """Next token ids ``(B,)`` from last-position logits ``(B, V)``."""
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / cfg.temperature
    if cfg.top_k is not None and cfg.top_k < logits.size(-1):
        kth = torch.topk(logits, cfg.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


@torch.no_grad()
def stream(model: Transformer, prompt: torch.Tensor, cfg: SampleConfig) -> Iterator[int]:
    """Yield new token ids one at a time for a 1-D ``prompt``.

    The cache holds at most ``seq_len`` positions; when it is full the last half of the context
    is re-encoded into a fresh cache (positions are absolute, so they cannot just shift).
    """
    if prompt.dim() != 1 or prompt.numel() == 0:
        raise ValueError("prompt must be a non-empty 1-D tensor of token ids")
    model.eval()
    T = model.config.seq_len
    gen = torch.Generator().manual_seed(cfg.seed)
    ctx = prompt[-T:].tolist()
    cache = KVCache(model.config, 1)
    logits, _ = model(torch.tensor([ctx]), cache=cache)  # (1, t, V)
    for _ in range(cfg.max_new_tokens):
        nxt = int(pick(logits[:, -1], cfg, gen)[0])
        yield nxt
        ctx.append(nxt)
        if cache.pos >= T:
            ctx = ctx[-(T // 2) :] if T > 1 else ctx[-1:]
            cache = KVCache(model.config, 1)
            logits, _ = model(torch.tensor([ctx]), cache=cache)
        else:
            logits, _ = model(torch.tensor([[nxt]]), cache=cache)


@dataclass
class Generation:
    tokens: list[int]
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return len(self.tokens) / self.seconds if self.seconds > 0 else float("inf")


def generate(
    model: Transformer,
    prompt: torch.Tensor,
    cfg: SampleConfig,
    on_token: Callable[[int], None] | None = None,
) -> Generation:
    """All of :func:`stream`, timed (prompt encoding included)."""
    t0 = time.perf_counter()
    out = []
    for tok in stream(model, prompt, cfg):
        out.append(tok)
        if on_token:
            on_token(tok)
    return Generation(out, time.perf_counter() - t0)


@torch.no_grad()
def generate_no_cache(model: Transformer, prompt: torch.Tensor, cfg: SampleConfig) -> list[int]:
    """Reference: recompute the whole (cropped) context every step. For tests and benchmarks."""
    model.eval()
    T = model.config.seq_len
    gen = torch.Generator().manual_seed(cfg.seed)
    ctx = prompt.tolist()
    out = []
    for _ in range(cfg.max_new_tokens):
        logits, _ = model(torch.tensor([ctx[-T:]]))
        nxt = int(pick(logits[:, -1], cfg, gen)[0])
        out.append(nxt)
        ctx.append(nxt)
    return out
