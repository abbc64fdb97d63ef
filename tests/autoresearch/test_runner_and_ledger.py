"""Experiments in a child process: scores, crashes (exception, NaN, timeout), pruning; ledger."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from magnet_market.autoresearch import DEFAULTS, Budget, Ledger, Record
from magnet_market.autoresearch.ledger import measured_spreads
from magnet_market.autoresearch.runner import (
    Evaluation,
    Finished,
    MalformedMessageError,
    PruneAnswer,
    Usage,
    decode_answer,
    decode_reply,
    run_isolated,
)

from .conftest import TINY_BUDGET

DIGITS = DEFAULTS["digits"]


def test_a_run_scores_the_pinned_metric_with_eight_evaluation_points() -> None:
    out = run_isolated("digits", DIGITS, Budget(steps=80), 0, timeout=60)
    assert out.status == "ok" and 0.5 < out.metric <= 1.0
    assert len(out.curve) == 7  # k/8 for k = 1..7; the 8th is the final metric
    assert out.memory_mb and out.memory_mb > 50
    assert out.cpu_seconds and 0 < out.cpu_seconds < 60  # the child's own CPU time, not torch's
    again = run_isolated("digits", DIGITS, Budget(steps=80), 0, timeout=60)
    assert again.metric == out.metric  # same seed, same steps: the same number


def test_experiments_import_the_main_script_once_in_the_forkserver_not_in_each_child(tmp_path):
    # a main script like the `magnet` entry point: each import of it leaves a line in a file
    imports = tmp_path / "imports.txt"
    script = tmp_path / "main_script.py"
    script.write_text(
        textwrap.dedent(f"""
        import os
        with open({str(imports)!r}, "a") as f:
            print(__name__, os.getpid(), file=f)
        from magnet_market.autoresearch import DEFAULTS, Budget
        from magnet_market.autoresearch.runner import run_isolated
        if __name__ == "__main__":
            for seed in range(3):
                out = run_isolated("digits", DEFAULTS["digits"], Budget(steps=5), seed, timeout=60)
                assert out.status == "ok", out.reason
    """)
    )
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    lines = imports.read_text().splitlines()
    # the script itself, then once in the forkserver (not in each of the three children)
    assert [line.split()[0] for line in lines] == ["__main__", "__mp_main__"]


def test_a_diverging_config_is_a_crash_with_the_reason() -> None:
    out = run_isolated("digits", {**DIGITS, "optim.lr": 1e4}, TINY_BUDGET, 0, timeout=60)
    assert out.status == "crash" and out.metric is None
    assert "TrainingDivergedError" in out.reason


def test_an_exception_in_the_child_is_a_crash() -> None:
    out = run_isolated("digits", {**DIGITS, "model.hidden": 0}, TINY_BUDGET, 0, timeout=60)
    assert out.status == "crash" and "hidden must be >= 1" in out.reason


def test_a_run_past_its_deadline_is_killed() -> None:
    out = run_isolated("digits", DIGITS, Budget(seconds=30), 0, timeout=1.0)
    assert out.status == "crash" and out.reason == "timeout: killed after 1 s"
    assert out.seconds < 5


def test_pruning_stops_the_run_at_the_evaluation_that_asked() -> None:
    seen = []

    def prune(k: int, value: float) -> bool:
        seen.append(k)
        return k == 2

    out = run_isolated("digits", DIGITS, Budget(steps=400), 0, timeout=60, should_prune=prune)
    assert out.status == "pruned" and seen == [1, 2] and len(out.curve) == 2


def test_pipe_messages_decode_to_their_types_or_say_what_arrived() -> None:
    done = Finished(metric=0.9, usage=Usage(peak_mb=100.0, cpu_seconds=1.0))
    assert decode_reply(done) is done
    assert decode_reply(Evaluation(k=1, value=0.5)) == Evaluation(k=1, value=0.5)
    with pytest.raises(MalformedMessageError, match=r"expected one of Evaluation, .* got tuple"):
        decode_reply(("done", 0.9, 100.0, 1.0))  # the untyped tuples of before
    assert decode_answer(PruneAnswer(prune=True)).prune
    with pytest.raises(MalformedMessageError, match="expected PruneAnswer, got str 'prune'"):
        decode_answer("prune")


def _record(i: int, status: str = "discard") -> Record:
    return Record(
        id=i,
        parent=None if i == 0 else 0,
        phase="lr",
        status=status,
        description=f"change\t{i}",
        config=DIGITS,
        metric=0.9 + i / 100,
    )


def test_ledger_appends_writes_tsv_and_drops_a_torn_last_line(tmp_path) -> None:
    ledger = Ledger(tmp_path)
    for i in range(3):
        ledger.append(_record(i, "keep" if i == 0 else "discard"))
    rows = ledger.tsv.read_text().splitlines()
    assert rows[0].split("\t") == [
        "id",
        "parent",
        "metric",
        "memory",
        "seconds",
        "status",
        "description",
    ]
    assert rows[2].split("\t") == ["1", "0", "0.910000", "", "0.0", "discard", "change 1"]
    with ledger.jsonl.open("a") as f:
        f.write(json.dumps({"id": 3, "parent": 0})[:12])  # killed mid-write
    assert [r.id for r in ledger.records()] == [0, 1, 2]
    ledger.append(_record(3))
    assert [r.id for r in Ledger(tmp_path).records()] == [0, 1, 2, 3]


def test_the_best_s_reused_fresh_seed_runs_count_once_in_the_noise() -> None:
    def row(i: int, parent: int | None, status: str, runs: list[float], **more) -> Record:
        return Record(
            id=i,
            parent=parent,
            phase="lr",
            status=status,
            description="",
            config={},
            runs=runs,
            **more,
        )

    best_fresh = [0.90, 0.94]  # run once, for the first confirmation against the baseline
    records = [
        row(0, None, "keep", [0.90, 0.92, 0.91]),
        row(1, 0, "discard", [0.93, 0.95, 0.80, 0.86], parent_runs=best_fresh),
        row(2, 0, "discard", [0.92, 0.96, 0.84, 0.90], parent_runs=best_fresh),
        row(3, 0, "keep", [0.97, 0.99], screen_runs=[0.95, 0.97], parent_runs=best_fresh),
    ]
    spreads = measured_spreads(records)
    assert len(spreads) == 6  # baseline, rows 1 and 2, row 3's two sets, the best's once
    assert spreads.count(measured_spreads([row(9, None, "keep", best_fresh)])[0]) == 1
