"""A round judged on one CPU is the same round judged on any other.

Each child process judges the same tinylm round (four contributions, the default trimmed mean)
with torch forced to another SIMD level (``ATEN_CPU_CAPABILITY``), the native kernel forced to
another path (``MAGNET_KERNEL``) and another thread count: the report and the merged checkpoint
must come out byte for byte the same. Before judging went through ``bitnet.exact``, the three
reports differed (the parent's val_loss in its sixth digit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from magnet_market.bitnet import kernel
from tests.diloco._judge_files import CONTRIBUTORS, write_round_inputs

ROOT = Path(__file__).resolve().parents[2]

#: (torch's SIMD level, MAGNET_KERNEL, torch threads) of each judge
JUDGES = [("default", "portable", 1), ("avx2", "avx2", 2), ("avx512", "avx512", 1)]
KERNEL_PATHS = {"portable": "scalar", "avx2": "avx2", "avx512": "avx512vnni"}


def judges_this_cpu_runs() -> list[tuple[str, str, int]]:
    """Every judge whose kernel path this CPU has (x86-64 CI machines have all three)."""
    wanted = [j for j in JUDGES if KERNEL_PATHS[j[1]] in kernel.available_paths()]
    assert len(wanted) >= 2, f"this CPU runs only {kernel.available_paths()}: nothing to compare"
    return wanted


@pytest.fixture(scope="module")
def round_inputs(tmp_path_factory) -> Path:
    return write_round_inputs(tmp_path_factory.mktemp("inputs"))


def _judge(inputs: Path, out: Path, capability: str, path: str, threads: int) -> dict:
    out.mkdir()
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "MAGNET_KERNEL": path}
    done = subprocess.run(
        [sys.executable, "-m", "tests.diloco._judge_files", str(inputs), str(out), str(threads)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_simd_level_and_kernel_path_judges_the_same_bytes(round_inputs, tmp_path):
    wanted = judges_this_cpu_runs()
    runs = [_judge(round_inputs, tmp_path / c, c, p, t) for c, p, t in wanted]
    assert [r["kernel_path"] for r in runs] == [KERNEL_PATHS[p] for _, p, _ in wanted]
    assert [r["cpu_capability"] for r in runs] == [c.upper() for c, _, _ in wanted]
    assert runs[0]["accepted"] == CONTRIBUTORS
    assert {r["report"] for r in runs} == {runs[0]["report"]}
    assert {r["merged"] for r in runs} == {runs[0]["merged"]}
