"""DiLoCo figures on tinylm: DiLoCo vs synchronous data-parallel, poisoning, and a large merge.

Usage:
    python benchmarks/diloco.py            # everything (a few minutes), key: value block
    python benchmarks/diloco.py --json     # one JSON object on stdout (progress on stderr)
    python benchmarks/diloco.py --quick    # small sizes, a smoke run (~1 minute)

Keys: loss_gap_pct (DiLoCo vs synchronous data-parallel, same examples and inner optimizer,
% of the baseline's validation loss; both start from a checkpoint pretrained with the baseline
recipe, as the DiLoCo paper does; ``loss_gap_pct_from_init`` is the same from random weights;
each round's merge goes through the market's merge guard, ``loss_gap_pct_from_init_unguarded``
is the outer step alone and ``merge_steps*`` list the step each round kept),
comm_reduction (bytes the baseline sends / bytes DiLoCo sends, both counted as one fp32 copy
of the model per worker per exchange: a gradient each step vs a checkpoint file each round),
poisoned_gap_pct_robust / poisoned_gap_pct_mean (one of 4 workers sends its update x100: merged
loss vs the 3 honest workers' plain mean, with the robust default and with plain averaging),
merge8_100m_s / merge8_100m_peak_rss_mb (outer step over 8 checkpoints of a ~100M-parameter
transformer, in a fresh process: wall time and peak RSS).
Extra keys: the same gaps for a random-weights attacker, and the sizes used.

Everything runs on one thread per process, seeded; workers run one after another (the figures
are about quality and bytes, not wall-clock parallelism).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.bitnet.checkpoint import Checkpoint, load, load_into
from magnet_market.bitnet.model import TransformerConfig, build_model
from magnet_market.bitnet.train import OptimConfig, TrainConfig, train, training_checkpoint
from magnet_market.diloco import AggregationConfig, DilocoMerger
from magnet_market.diloco.guard import guarded_merge, merge_steps
from magnet_market.diloco.outer import OuterConfig
from magnet_market.diloco.verify import Metric, VerifyRules
from magnet_market.tasks import TinyLMData

SEED = 0
# constant inner lr on both sides (DiLoCo restarts each round; a per-run schedule would differ)
INNER = OptimConfig(
    lr=3e-3, warmup_steps=0, weight_decay=0.0, stage_split=1.0, stage1_final=1.0, stage2_lr=1.0,
    final_lr=1.0,
)  # fmt: skip
MEAN = AggregationConfig(method="mean", clip_multiple=None)  # the paper's plain average
KEYS = (
    "loss_gap_pct",
    "comm_reduction",
    "poisoned_gap_pct_robust",
    "poisoned_gap_pct_mean",
    "merge8_100m_s",
    "merge8_100m_peak_rss_mb",
)


@dataclass(frozen=True)
class Sizes:
    """One benchmark's sizes (``--quick`` shrinks them)."""

    workers: int = 4  # K
    inner_steps: int = 50  # H
    rounds: int = 10  # R
    inner_batch: int = 8  # per worker; the baseline uses workers x inner_batch
    pretrain_steps: int = 500  # both sides start here, as in the DiLoCo paper (warm start)
    model: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(d_model=128, n_layers=2, n_heads=4, seq_len=64)
    )
    # ~99M parameters: 14 x 12 x 768^2 in the blocks + embeddings
    merge_model: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(d_model=768, n_layers=14, n_heads=12)
    )
    merge_inputs: int = 8


QUICK = Sizes(
    inner_steps=10, rounds=3, pretrain_steps=30,
    merge_model=TransformerConfig(d_model=256, n_layers=4, n_heads=4), merge_inputs=4,
)  # fmt: skip


def n_params(cfg: TransformerConfig) -> int:
    return sum(p.numel() for p in build_model(cfg).parameters())


def initial_checkpoint(cfg: TransformerConfig, path: Path) -> Path:
    torch.manual_seed(SEED)
    model = build_model(cfg)
    return Checkpoint({f"model.{k}": v for k, v in model.state_dict().items()}, cfg).save(path)


def pretrained_checkpoint(
    s: Sizes,
    data: TinyLMData,
    init: Path,
    path: Path,
    steps: int | None = None,
    optim: OptimConfig = INNER,
    seed: int = SEED + 777,
) -> Path:
    """The shared starting point: synchronous training (the baseline's K x B batch) for
    ``steps`` (default ``pretrain_steps``) on batches of ``seed`` (default: other batches)."""
    model = build_model(s.model)
    load_into(model, load(init))
    cfg = TrainConfig(
        steps=s.pretrain_steps if steps is None else steps,
        batch_size=s.workers * s.inner_batch,
        seed=seed,
        optim=optim,
    )
    train(model, data, cfg)
    return Checkpoint({f"model.{k}": v for k, v in model.state_dict().items()}, s.model).save(path)


def evaluate_file(path: Path, data: TinyLMData) -> float:
    ck = load(path)
    model = build_model(ck.config)
    load_into(model, ck)
    return data.evaluate(model)["val_loss"]


# --------------------------------------------------------------------------- DiLoCo vs baseline


def baseline(
    s: Sizes, data: TinyLMData, parent: Path, optim: OptimConfig = INNER
) -> tuple[float, int]:
    """Synchronous data-parallel: one model, global batch K x B, an all-reduce every step."""
    model = build_model(s.model)
    load_into(model, load(parent))
    cfg = TrainConfig(
        steps=s.inner_steps * s.rounds, batch_size=s.workers * s.inner_batch, seed=SEED, optim=optim
    )
    res = train(model, data, cfg)
    grad_bytes = 4 * sum(p.numel() for p in model.parameters())
    return res.metrics["val_loss"], cfg.steps * s.workers * grad_bytes


def inner_round(
    s: Sizes,
    data: TinyLMData,
    parent: Path,
    worker: int,
    rnd: int,
    work: Path,
    optim: OptimConfig = INNER,
    carry: bool = True,
    run_schedule: bool = False,
) -> Path:
    """H inner steps of one worker; with ``carry`` its AdamW state carries over between rounds
    (as in DiLoCo); with ``run_schedule`` round r trains steps r*H .. (r+1)*H of one schedule
    over the run, else the schedule restarts each round."""
    state_dir = work / f"worker{worker}"
    own_state = state_dir / f"step{s.inner_steps:07d}.safetensors"
    model = build_model(s.model)
    resume = None
    ck = load(parent)
    if carry and own_state.exists():
        moments = {k: v for k, v in load(own_state).tensors.items() if k.startswith("optim.")}
        model_part = {k: v for k, v in ck.tensors.items() if k.startswith("model.")}
        resume = Checkpoint({**model_part, **moments}, s.model)
    else:
        load_into(model, ck)
    cfg = TrainConfig(
        steps=s.inner_steps,
        batch_size=s.inner_batch,
        seed=SEED + 1 + worker + s.workers * rnd,  # distinct data for every worker and round
        optim=optim,
        checkpoint_every=s.inner_steps,
        checkpoint_dir=state_dir,
        schedule_offset=rnd * s.inner_steps if run_schedule else 0,
        schedule_steps=s.rounds * s.inner_steps if run_schedule else None,
    )
    res = train(model, data, cfg, resume=resume, parent_cid=f"round{rnd}")
    upload = training_checkpoint(model, None, res.step, f"round{rnd}", res.metrics, cfg)
    return upload.save(work / f"r{rnd}w{worker}.safetensors")


@dataclass(frozen=True)
class DilocoRun:
    """One DiLoCo run: final loss, bytes sent, the mid-run parent, the step each round kept and
    the merged loss after each round."""

    loss: float
    sent: int
    mid: Path
    steps: list[str]
    curve: list[float]


def diloco(
    s: Sizes,
    data: TinyLMData,
    parent: Path,
    work: Path,
    log,
    guard: bool = True,
    optim: OptimConfig = INNER,
    carry: bool = True,
    run_schedule: bool = False,
    outer: OuterConfig | None = None,
) -> DilocoRun:
    """R rounds of K workers (``optim``; ``carry``, ``run_schedule``: see ``inner_round``) and a
    plain-mean ``outer`` step (default: DiLoCo's), behind the market's merge guard
    (``diloco.guard``: the outer step unless it measures worse than the best worker)."""
    sent, mid, kept, curve = 0, parent, [], []
    steps = merge_steps(outer or OuterConfig(), guard)
    evaluate = functools.partial(evaluate_file, data=data)
    loss = evaluate(parent)
    for rnd in range(s.rounds):
        subs = [
            inner_round(s, data, parent, w, rnd, work, optim, carry, run_schedule)
            for w in range(s.workers)
        ]
        sent += sum(p.stat().st_size for p in subs)
        merged = guarded_merge(
            steps, MEAN, parent, subs, [1.0] * len(subs), [evaluate(p) for p in subs],
            metric=Metric(), tolerance=VerifyRules().regression_tolerance, evaluate=evaluate,
            out=work / f"merged{rnd}.safetensors",
        )  # fmt: skip
        parent, loss = merged.path, merged.metric
        kept.append(merged.step.name)
        curve.append(loss)
        if rnd + 1 == s.rounds // 2:
            mid = parent
        log(f"  round {rnd + 1}/{s.rounds}: val_loss {loss:.4f} ({merged.step.name} step)")
    return DilocoRun(loss, sent, mid, kept, curve)


# --------------------------------------------------------------------------- poisoning


def poisoned_gaps(s: Sizes, data: TinyLMData, parent: Path, work: Path) -> dict[str, float]:
    """One round from ``parent``: worker K-1 attacks; merged loss vs the honest-only mean (%)."""
    subs = [inner_round(s, data, parent, w, 10_000, work / "poison") for w in range(s.workers)]
    honest, attacker = subs[:-1], load(subs[-1])
    base = load(parent).tensors
    gen = torch.Generator().manual_seed(SEED)
    attacks = {
        "x100": {k: base[k] - 100 * (base[k] - v) for k, v in attacker.tensors.items()},
        "random": {
            k: torch.randn(v.shape, generator=gen) * v.std().clamp_min(0.02)
            for k, v in sorted(attacker.tensors.items())
        },
    }
    out = work / "poison"
    ref = DilocoMerger(aggregation=MEAN).merge(parent, honest, out / "honest.safetensors").path
    ref_loss = evaluate_file(ref, data)
    gaps = {}
    for attack, tensors in attacks.items():
        bad = replace(attacker, tensors=tensors).save(out / f"{attack}.safetensors")
        for name, agg in (("robust", AggregationConfig()), ("mean", MEAN)):
            try:
                merged = DilocoMerger(aggregation=agg).merge(
                    parent, [*honest, bad], out / f"{attack}-{name}.safetensors"
                )
                loss = evaluate_file(merged.path, data)
            except ArithmeticError:  # NonFiniteMergeError: the merge was discarded
                loss = float("inf")
            gaps[f"{attack}_{name}"] = 100 * (loss - ref_loss) / ref_loss
    return gaps


# --------------------------------------------------------------------------- big merge


def make_merge_inputs(cfg: TransformerConfig, n: int, work: Path) -> tuple[Path, list[Path]]:
    """A parent of ``cfg`` and ``n`` contributions = parent + small seeded noise."""
    parent = initial_checkpoint(cfg, work / "parent.safetensors")
    base = load(parent).tensors
    subs = []
    for i in range(n):
        gen = torch.Generator().manual_seed(SEED + i)
        t = {k: v - 1e-3 * torch.randn(v.shape, generator=gen) for k, v in sorted(base.items())}
        subs.append(Checkpoint(t, cfg, step=50).save(work / f"c{i}.safetensors"))
        del t
    return parent, subs


def proc_status_mb(key: str) -> float:
    """A ``/proc/self/status`` memory line in MiB (``VmHWM``: peak RSS of this process image)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


def merge_in_child(parent: Path, subs: list[Path], out: Path) -> tuple[float, float, float]:
    """Merge in a fresh process: seconds, its peak RSS and its RSS before merging (MiB).

    Measured inside the child from ``VmHWM``: ``getrusage`` would report the parent's size,
    since Linux carries ``maxrss`` over fork and exec.
    """
    cmd = [sys.executable, __file__, "--merge-only", str(parent), str(out), *map(str, subs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    child = json.loads(proc.stdout)
    return child["seconds"], child["peak_rss_mb"], child["rss_before_mb"]


def merge_only(parent: str, out: str, subs: list[str]) -> None:
    torch.set_num_threads(1)
    before = proc_status_mb("VmRSS")  # interpreter, torch and our imports
    t0 = time.perf_counter()
    DilocoMerger().merge(parent, subs, out)
    seconds = time.perf_counter() - t0
    peak = proc_status_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak}))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--merge-only", nargs="+", help=argparse.SUPPRESS)  # child of the merge figure
    args = ap.parse_args(argv)
    if args.merge_only:
        merge_only(args.merge_only[0], args.merge_only[1], args.merge_only[2:])
        return 0
    log = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    torch.set_num_threads(1)
    s = QUICK if args.quick else Sizes()
    log(f"sizes: {s}; seed {SEED}; load average {os.getloadavg()[0]:.2f}")
    data = TinyLMData(seq_len=s.model.seq_len, max_train_bytes=2 << 20, max_val_bytes=256 << 10)
    res: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        init = initial_checkpoint(s.model, work / "init.safetensors")
        start = pretrained_checkpoint(s, data, init, work / "pretrained.safetensors")
        log(f"pretrained {s.pretrain_steps} steps: val_loss {evaluate_file(start, data):.4f}")
        baselines: dict[Path, tuple[float, int]] = {}  # origin -> loss, bytes
        runs = [("", start, True), ("_from_init", init, True)]
        runs.append(("_from_init_unguarded", init, False))  # what the guard changes
        for label, origin, guard in runs:
            if origin not in baselines:
                t0 = time.perf_counter()
                baselines[origin] = baseline(s, data, origin)
                took = time.perf_counter() - t0
                log(f"baseline{label}: val_loss {baselines[origin][0]:.4f} ({took:.0f} s)")
            base_loss, base_bytes = baselines[origin]
            t0 = time.perf_counter()
            run = diloco(s, data, origin, work / f"diloco{label}", log, guard)
            log(f"diloco{label}: val_loss {run.loss:.4f} ({time.perf_counter() - t0:.0f} s)")
            res[f"loss_gap_pct{label}"] = 100 * (run.loss - base_loss) / base_loss
            res[f"baseline_val_loss{label}"], res[f"diloco_val_loss{label}"] = base_loss, run.loss
            res[f"merge_steps{label}"] = run.steps
            if not label:
                res["comm_reduction"], mid = base_bytes / run.sent, run.mid
        gaps = poisoned_gaps(s, data, mid, work)
        log(f"poisoned gaps (%): {gaps}")
        res["poisoned_gap_pct_robust"] = gaps["x100_robust"]
        res["poisoned_gap_pct_mean"] = gaps["x100_mean"]
        res["poisoned_random_gap_pct_robust"] = gaps["random_robust"]
        res["poisoned_random_gap_pct_mean"] = gaps["random_mean"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parent, subs = make_merge_inputs(s.merge_model, s.merge_inputs, work)
        seconds, peak, before = merge_in_child(parent, subs, work / "merged.safetensors")
        size_mb = parent.stat().st_size / 2**20
        log(
            f"merge of {len(subs)} x {n_params(s.merge_model) / 1e6:.1f}M params "
            f"({size_mb:.0f} MiB each): {seconds:.1f} s, peak RSS {peak:.0f} MiB "
            f"({before:.0f} MiB after imports)"
        )
        res["merge8_100m_s"], res["merge8_100m_peak_rss_mb"] = seconds, peak
        res["merge_rss_after_imports_mb"], res["merge_checkpoint_mb"] = before, size_mb
    res["sizes"] = {
        **asdict(s),
        "model_params": n_params(s.model),
        "merge_params": n_params(s.merge_model),
        "seed": SEED,
    }
    res = {k: res.pop(k) for k in KEYS} | res  # the keys first, extras after
    emit(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
