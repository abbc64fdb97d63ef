"""BitNet engine figures: each a ratio measured side by side in one process (1 and 2 threads).

Usage:
    python benchmarks/bitnet.py            # everything (several minutes)
    python benchmarks/bitnet.py --quick    # kernel figures only, under a minute
    python benchmarks/bitnet.py --json     # one JSON object on stdout

Keys: gemv_speedup_t1, gemv_speedup_t2, gemm256_speedup_t2 (torch fp32 F.linear time / packed
kernel time, both cycling through matrices larger than the last-level cache), packed_bytes_ratio
(fp32 bytes / packed bytes), decode_speedup_t2 (tokens/s of a ~100M-parameter model, packed vs
fp32, KV cache on both), train_step_ratio (BitLinear model step / same model with nn.Linear),
bitnet_val_loss, fp32_val_loss (tinylm, same shape and wall-clock budget).

Timing: the two sides alternate in short rounds and the fastest round of each is used (as
``timeit`` advises): on a shared CPU a neighbour's burst can stall a 2-thread round by a whole
scheduler slice, and alternating rounds give both sides the same chances to run undisturbed.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.bitnet import kernel, quant
from magnet_market.bitnet.export import to_kernel_model
from magnet_market.bitnet.generate import SampleConfig, generate
from magnet_market.bitnet.model import Transformer, TransformerConfig
from magnet_market.bitnet.train import OptimConfig, TrainConfig, make_optimizer, train

K = N = 4096
N_MATRICES = 8  # 8 x 4 MiB packed = 32 MiB (8 x 64 MiB fp32): beyond the L3 of the CPUs we run on


def side_by_side(a: Callable[[], None], b: Callable[[], None], calls: int, rounds: int) -> float:
    """Best round time of ``a`` / best round time of ``b``, alternating rounds of ``calls``."""
    ta, tb = [], []
    a()
    b()
    for _ in range(rounds):
        for f, acc in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            for _ in range(calls):
                f()
            acc.append((time.perf_counter() - t0) / calls)
    return min(ta) / min(tb)


class _Cycle:
    """Calls ``f`` on the next item each time, so no single matrix stays in cache."""

    def __init__(self, f: Callable, items: list) -> None:
        self.f, self.items, self.i = f, items, 0

    def __call__(self) -> None:
        self.i = (self.i + 1) % len(self.items)
        self.f(self.items[self.i])


def kernel_figures(log: Callable[[str], None]) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(N, K, generator=g) * 0.02 for _ in range(N_MATRICES)]
    packed, scales = [], []
    for w in ws:
        w_int, s = quant.ternarize(w)
        packed.append(quant.pack_ternary(w_int.to(torch.int8)))
        scales.append(float(s))
    fp_bytes = ws[0].numel() * 4
    pk_bytes = packed[0].numel() + 4  # + one float32 scale
    out = {"packed_bytes_ratio": fp_bytes / pk_bytes}
    log(f"packed bytes ratio {out['packed_bytes_ratio']:.2f} (path {kernel.best_path()})")
    for m, threads, key, calls, rounds in (
        (1, 1, "gemv_speedup_t1", 16, 9),
        (1, 2, "gemv_speedup_t2", 16, 9),
        (256, 2, "gemm256_speedup_t2", 2, 7),
    ):
        torch.set_num_threads(threads)
        x = torch.randn(m, K, generator=g)
        fp = _Cycle(lambda w, x=x: F.linear(x, w), ws)
        tern = _Cycle(
            lambda p, x=x, t=threads: kernel.bitlinear(x, p[0], p[1], N, threads=t),
            list(zip(packed, scales, strict=True)),
        )
        out[key] = side_by_side(fp, tern, calls, rounds)
        log(f"M={m} threads={threads}: packed kernel {out[key]:.2f}x faster than fp32 F.linear")
    return out


def decode_figure(log: Callable[[str], None], tokens: int = 32, threads: int = 2) -> float:
    """~100M parameters: 14 layers of 12 * 768^2 (attention 4 d^2 + MLP 8 d^2)."""
    torch.set_num_threads(threads)
    cfg = TransformerConfig(vocab_size=256, seq_len=256, d_model=768, n_layers=14, n_heads=12)
    torch.manual_seed(0)
    bit = Transformer(cfg).eval()
    fp = Transformer(TransformerConfig(**{**cfg.__dict__, "bitnet": False})).eval()
    fp.load_state_dict(bit.state_dict())
    packed = to_kernel_model(bit)
    n_params = sum(p.numel() for p in bit.parameters())
    prompt = torch.arange(8)
    sc = SampleConfig(max_new_tokens=tokens)
    tps = {"fp32": [], "packed": []}
    for _ in range(3):
        for name, model in (("fp32", fp), ("packed", packed)):
            tps[name].append(generate(model, prompt, sc).tokens_per_second)
    fp_tps, pk_tps = statistics.median(tps["fp32"]), statistics.median(tps["packed"])
    log(
        f"decode {n_params / 1e6:.0f}M params, {threads} threads: fp32 {fp_tps:.1f} tok/s, ", end=""
    )
    log(f"packed {pk_tps:.1f} tok/s")
    return pk_tps / fp_tps


def train_step_figure(log: Callable[[str], None], threads: int = 1) -> float:
    torch.set_num_threads(threads)
    cfg = TransformerConfig(seq_len=256, d_model=256, n_layers=4, n_heads=4)
    steps = {}
    for bitnet in (True, False):
        torch.manual_seed(0)
        model = Transformer(TransformerConfig(**{**cfg.__dict__, "bitnet": bitnet}))
        opt = make_optimizer(model, OptimConfig())
        x = torch.randint(0, 256, (16, 256))

        def step(model=model, opt=opt, x=x) -> None:
            _, loss = model(x, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        steps[bitnet] = step
    ratio = side_by_side(steps[True], steps[False], calls=3, rounds=5)
    log(f"train step BitLinear / nn.Linear: {ratio:.2f}")
    return ratio


def quality_figures(
    log: Callable[[str], None], budget: float, threads: int = 1
) -> tuple[float, float]:
    from magnet_market.tasks import TinyLMData

    torch.set_num_threads(threads)
    data = TinyLMData(seq_len=128, eval_batches=16)
    cfg = TransformerConfig(seq_len=128, d_model=128, n_layers=4, n_heads=4)
    losses = {}
    for bitnet, lr in ((True, 3e-3), (False, 1e-3)):  # BitNet wants a higher lr (b1.58 recipe)
        torch.manual_seed(0)
        model = Transformer(TransformerConfig(**{**cfg.__dict__, "bitnet": bitnet}))
        tc = TrainConfig(steps=None, time_budget=budget, batch_size=16, optim=OptimConfig(lr=lr))
        res = train(model, data, tc)
        losses[bitnet] = res.metrics["val_loss"]
        name = "bitnet" if bitnet else "fp32"
        log(f"tinylm {name}: {res.step} steps in {budget:.0f}s, val loss {losses[bitnet]:.4f}")
    return losses[True], losses[False]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="kernel figures only (< 1 minute)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds per tinylm training run")
    ap.add_argument(
        "--train-threads", type=int, default=1, help="threads for the training figures (1: robust)"
    )
    args = ap.parse_args(argv)
    log = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    keys = [
        "gemv_speedup_t1",
        "gemv_speedup_t2",
        "gemm256_speedup_t2",
        "packed_bytes_ratio",
        "decode_speedup_t2",
        "train_step_ratio",
        "bitnet_val_loss",
        "fp32_val_loss",
    ]
    log(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    res: dict[str, float | None] = dict.fromkeys(keys)
    res.update(kernel_figures(log))
    if not args.quick:
        res["decode_speedup_t2"] = decode_figure(log)
        res["train_step_ratio"] = train_step_figure(log, args.train_threads)
        res["bitnet_val_loss"], res["fp32_val_loss"] = quality_figures(
            log, args.budget, args.train_threads
        )
    log(f"load average at end: {os.getloadavg()[0]:.2f}")
    emit(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
