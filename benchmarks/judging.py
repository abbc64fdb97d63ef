"""Judging every CPU agrees on: what it costs and how far it moves the metric.

    python benchmarks/judging.py          # key: value lines
    python benchmarks/judging.py --json

For a small trained digits classifier and a small trained tinylm transformer, side by side in
this process: the float32 evaluation a contributor runs while training and the judged one
(``diloco.verify.judged_metrics``: the integer kernel, float64 and fixed-order sums around it,
metrics rounded to 6 decimals), with the gap between their metrics and the ratio of their
times. Then one tinylm round (four contributions) is judged in child processes forced to
torch's default, AVX2 and AVX-512 kernels with the native kernel's portable, AVX2 and AVX-512
paths: ``reports_identical`` says whether the three reports and merged checkpoints are the
same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.bitnet import kernel
from magnet_market.bitnet.model import ClassifierConfig, TransformerConfig, build_model
from magnet_market.bitnet.train import OptimConfig, TrainConfig, train
from magnet_market.diloco.verify import judged_metrics
from magnet_market.tasks import DigitsData, TinyLMData
from tests.diloco._judge_files import write_round_inputs
from tests.diloco.test_determinism import JUDGES, KERNEL_PATHS

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], dict[str, float]], repeats: int = 3) -> tuple[dict[str, float], float]:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def compare(name: str, model: torch.nn.Module, data, metric: str) -> dict[str, float]:
    """Float32 against judged evaluation of one trained model."""
    plain, plain_s = _timed(lambda: data.evaluate(model))
    judged, judged_s = _timed(lambda: judged_metrics(model, data.evaluate))
    return {
        f"{name}_{metric}_float32": plain[metric],
        f"{name}_{metric}_judged": judged[metric],
        f"{name}_metric_gap": abs(plain[metric] - judged[metric]),
        f"{name}_judged_vs_float32_time": judged_s / plain_s,
    }


def trained_models() -> dict[str, float]:
    torch.manual_seed(0)
    figures: dict[str, float] = {}
    digits = DigitsData()
    classifier = build_model(ClassifierConfig(hidden=32))
    train(classifier, digits, TrainConfig(steps=60, batch_size=32, optim=OptimConfig(lr=1e-2)))
    figures |= compare("digits", classifier, digits, "val_loss")
    text = TinyLMData(seq_len=64)
    lm = build_model(TransformerConfig(seq_len=64, d_model=64, n_layers=2, n_heads=2))
    train(lm, text, TrainConfig(steps=60, batch_size=8, optim=OptimConfig(lr=3e-3)))
    figures |= compare("tinylm", lm, text, "val_loss")
    return figures


def judged_everywhere() -> dict[str, object]:
    """The determinism test's round, judged on each SIMD level and kernel path."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = write_round_inputs(Path(tmp))
        for capability, path, threads in JUDGES:
            if KERNEL_PATHS[path] not in kernel.available_paths():
                continue
            out = Path(tmp) / capability
            out.mkdir()
            env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "MAGNET_KERNEL": path}
            args = [str(inputs), str(out), str(threads)]
            done = subprocess.run(
                [sys.executable, "-m", "tests.diloco._judge_files", *args],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
                check=True,
            )
            runs.append(json.loads(done.stdout))
    return {
        "judges": len(runs),
        "reports_identical": len({r["report"] for r in runs}) == 1,
        "merged_identical": len({r["merged"] for r in runs}) == 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    emit({**trained_models(), **judged_everywhere()}, args.json)


if __name__ == "__main__":
    main()
