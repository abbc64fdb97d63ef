"""``magnet autoresearch``: output, usage errors, and a SIGKILLed run resumed by the next one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from magnet_market.autoresearch import Ledger
from magnet_market.cli import main

from .conftest import wait_until


def _space_file(tmp_path: Path) -> Path:
    path = tmp_path / "space.json"
    path.write_text(
        json.dumps(
            {
                "knobs": {"optim.lr": {"kind": "float", "low": 1e-3, "high": 3e-2, "log": True}},
                "phases": [{"name": "lr", "knobs": ["optim.lr"]}],
            }
        )
    )
    return path


def test_cli_prints_the_default_runs_and_summarises(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "autoresearch",
        "digits",
        "--steps",
        "40",
        "--trials-per-phase",
        "2",
        "--seeds",
        "2",
        "--space",
        str(_space_file(tmp_path)),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, args, env={"COLUMNS": "200"})  # rich wraps at the width
    assert result.exit_code == 0, result.output
    assert "default configuration of digits (fixed before any sweep)" in result.output
    assert "optim.lr" in result.output and "0.003" in result.output
    assert "autoresearch result" in result.output and "#1 [lr]" in result.output
    assert len(Ledger(out).records()) == 3
    for name in ("results.tsv", "best_config.json", "progress.png", "study.db", "run.json"):
        assert (out / name).is_file()


def test_series_is_a_task_with_six_seeds_by_default(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["autoresearch", "series", "--steps", "30", "--trials-per-phase", "1"]
    args += ["--space", str(_space_file(tmp_path)), "--out", str(out)]
    result = CliRunner().invoke(main, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "default configuration of series (fixed before any sweep)" in result.output
    assert "metric hit_rate (maximize)" in result.output
    assert "6 seeds per candidate, confirmed on fresh seeds" in result.output
    assert json.loads((out / "run.json").read_text())["confirm"] is True
    baseline, candidate = Ledger(out).records()
    assert len(baseline.runs) == 6 and len(candidate.runs) == 6
    assert all(0.4 < m < 0.9 for m in baseline.runs)  # a hit rate, near the 0.55 "always up"
    assert baseline.config["model.n_features"] == 54 and baseline.config["model.n_classes"] == 2
    assert baseline.cpu_seconds is not None and baseline.cpu_seconds > 0


def test_cli_usage_and_domain_errors_are_clean(tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(main, ["autoresearch", "digits", "--steps", "5", "--seconds", "1"])
    assert both.exit_code == 2 and "not both" in both.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"knobs": {}, "phases": []}')
    result = runner.invoke(main, ["autoresearch", "digits", "--space", str(bad)])
    assert result.exit_code == 1
    assert "SearchSpaceError: invalid search space" in result.output
    assert "Traceback" not in result.output


def test_a_killed_run_resumes_with_the_same_ledger(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "autoresearch",
        "digits",
        "--steps",
        "300",
        "--trials-per-phase",
        "4",
        "--seeds",
        "2",
        "--space",
        str(_space_file(tmp_path)),
        "--out",
        str(out),
    ]
    magnet = Path(sys.executable).with_name("magnet")
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [str(magnet), *args], stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )

    def two_rows() -> bool:
        assert proc.poll() is None, (
            f"the CLI exited with {proc.returncode}: {stderr.read_text()[-2000:]}"
        )
        return len(Ledger(out).records(repair=False)) >= 2  # never write into the live run

    try:
        wait_until(two_rows, timeout=120, what="second ledger row")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its forkserver and the experiment child
        proc.wait()
    before = Ledger(out).records()
    assert 2 <= len(before) < 5, "the run must be killed mid-way for this test to mean anything"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    after = Ledger(out).records()
    assert after[: len(before)] == before
    assert [r.id for r in after] == list(range(5)) and all(r.phase == "lr" for r in after[1:])
    tsv = (out / "results.tsv").read_text().splitlines()
    assert len(tsv) == 6 and tsv[1].startswith("0\t\t")
