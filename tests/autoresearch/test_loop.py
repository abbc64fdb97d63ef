"""The loop's rules: baseline, phases, keep/discard beyond noise, crashes, refusals, resume."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from magnet_market.autoresearch import (
    DEFAULTS,
    Autoresearch,
    Budget,
    Ledger,
    Observer,
    Record,
    RunMismatchError,
    SearchSpace,
)
from magnet_market.autoresearch.errors import ConfigurationError
from magnet_market.autoresearch.keep import improvement, spread
from magnet_market.autoresearch.ledger import measured_spreads

from .conftest import wait_until


def _assert_keep_rule_held(records: list[Record]) -> int:
    """Each kept change beat its parent's mean over the same seeds by more than the mean spread
    measured so far, scaled to its number of runs, and, when confirmed, was better again on
    fresh seeds and beat that level over both seed sets pooled; every run of a candidate is in
    its row; one run alone means its seed lost to the parent's. Returns the rows checked."""
    by_id = {r.id: r for r in records}
    checked = 0

    def beats(runs: list[float], reference: list[float], spreads: list[float]) -> bool:
        level = sum(spreads) / len(spreads) * math.sqrt(2 / len(runs)) if spreads else 0.0
        paired = reference[: len(runs)]
        return improvement(sum(runs) / len(runs), sum(paired) / len(paired), "maximize") > level

    for i, r in enumerate(records[1:], start=1):
        n = len(r.parent_runs)  # confirmed on n fresh seeds, or 0
        screened, fresh = (r.screen_runs, r.runs) if r.status == "keep" else (r.runs, [])
        if n and r.status != "keep":
            screened, fresh = r.runs[:n], r.runs[n:]
        screened = screened or r.runs
        parent = by_id[r.parent].runs
        if not screened:  # a crash or a refusal: nothing was scored
            assert r.status == "crash" and r.metric is None, r.description
            checked += 1
            continue
        if len(screened) == 1:  # the two-seed screen: its first seed did no better
            assert r.status == "discard" and screened[0] <= parent[0], r.description
            checked += 1
            continue
        earlier = measured_spreads(records[:i])
        checked += 1
        passed = beats(screened, parent, [*earlier, spread(screened)])
        if not n:
            assert (r.status == "keep") == passed, r.description
            continue
        assert passed and len(fresh) == n, r.description
        again = beats(fresh, r.parent_runs, [])
        spreads = [*earlier, *map(spread, (screened, fresh, r.parent_runs))]
        pooled = beats([*screened, *fresh], [*parent[:n], *r.parent_runs], spreads)
        assert (r.status == "keep") == (again and pooled), r.description
    return checked


def test_loop_runs_every_phase_and_writes_its_outputs(tmp_path, tiny_settings, tiny_space):
    best = Autoresearch(tiny_settings, tmp_path, space=tiny_space).run()
    records = Ledger(tmp_path).records()
    assert records[0].status == "keep" and len(records[0].runs) == 3  # baseline, three seeds
    assert [r.phase for r in records].count("lr") == 2
    assert [r.phase for r in records].count("width") <= 2  # a small choice phase may run dry
    assert [r.id for r in records] == list(range(len(records)))
    assert all(r.parent == b.id for r, b in zip(records[1:], _running_best(records), strict=False))
    assert _assert_keep_rule_held(records) == len(records) - 1
    assert best == [r for r in records if r.status == "keep"][-1]
    summary = json.loads((tmp_path / "best_config.json").read_text())
    assert summary["best_metric"] == best.metric and summary["config"] == best.config
    assert (tmp_path / "progress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "results.tsv").read_text().count("\n") == len(records) + 1


def _running_best(records: list[Record]) -> list[Record]:
    out, best = [], records[0]
    for r in records[1:]:
        out.append(best)
        if r.status == "keep":
            best = r
    return out


def test_crashes_and_refusals_are_rows_and_the_loop_goes_on(
    tmp_path, tiny_settings, tiny_space, scripted_proposer
):
    replies = [
        '{"changes": {"optim.lr": 10000.0}, "description": "far too hot"}',  # diverges
        '{"changes": {"optim.lr": 1e9}}',  # outside [1e-5, 1e5]
        '{"changes": {"model.hidden": 64}}',  # phase "width" has begun
        "this is not json",
    ]
    settings = dataclasses.replace(tiny_settings, proposer=scripted_proposer(replies))
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    records = Ledger(tmp_path).records()
    assert [r.status for r in records[1:3]] == ["crash", "crash"]
    assert "TrainingDivergedError" in records[1].description
    assert "far too hot" in records[1].description
    assert records[2].description.startswith("refused proposal: optim.lr: 1000000000.0 is outside")
    assert records[3].phase == "width" and records[3].status in ("keep", "discard")
    assert records[4].description.startswith("refused proposal: proposer reply is not JSON")
    log = (tmp_path / "autoresearch.log").read_text()
    assert "refused proposal: optim.lr" in log and "refused proposal: proposer reply" in log


def test_a_knob_outside_the_phase_is_refused(
    tmp_path, tiny_settings, tiny_space, scripted_proposer
):
    settings = dataclasses.replace(
        tiny_settings,
        trials_per_phase=1,
        proposer=scripted_proposer(['{"changes": {"model.hidden": 64}}', '{"changes": {}}']),
    )
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    records = Ledger(tmp_path).records()
    assert "phase 'lr' sweeps only ['optim.lr'], not 'model.hidden'" in records[1].description
    assert records[1].status == "crash" and records[1].metric is None


class _StopAfter(Observer):
    """Interrupts the loop like Ctrl-C, during the n-th experiment's training."""

    def __init__(self, n: int) -> None:
        self.n, self.started = n, 0

    def experiment_started(self, experiment_id: int, phase: str, description: str) -> None:
        self.started += 1

    def evaluated(self, k: int, value: float) -> None:
        if self.started >= self.n:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_its_ledger_and_studies(tmp_path, tiny_settings, tiny_space):
    with pytest.raises(KeyboardInterrupt):
        Autoresearch(tiny_settings, tmp_path, space=tiny_space, observer=_StopAfter(3)).run()
    before = Ledger(tmp_path).records()
    assert 2 <= len(before) < 5  # baseline and experiments before the one cut mid-training
    with sqlite3.connect(tmp_path / "study.db") as db:
        states = [s for (s,) in db.execute("select state from trials")]
    assert "RUNNING" in states  # the interrupted trial, left open by the kill
    Autoresearch(tiny_settings, tmp_path, space=tiny_space).run()
    after = Ledger(tmp_path).records()
    assert after[: len(before)] == before
    assert [r.id for r in after] == list(range(len(after)))
    assert [r.phase for r in after].count("lr") == 2
    with sqlite3.connect(tmp_path / "study.db") as db:
        states = [s for (s,) in db.execute("select state from trials")]
    assert "RUNNING" not in states and "FAIL" in states


class _KillAfterRecording(Observer):
    """Interrupts the loop right after the first experiment reached the ledger."""

    def recorded(self, record: Record, best: Record) -> None:
        if record.id == 1:
            raise KeyboardInterrupt


def test_a_kill_after_the_ledger_write_leaves_outputs_and_no_answer_without_a_row(
    tmp_path, tiny_settings, tiny_space
):
    """The ledger is written before the sampler hears the outcome: a trial the study counts as
    finished always has its row, so a repeat is never answered from an unrecorded run."""
    with pytest.raises(KeyboardInterrupt):
        Autoresearch(
            tiny_settings, tmp_path, space=tiny_space, observer=_KillAfterRecording()
        ).run()
    assert [r.id for r in Ledger(tmp_path).records()] == [0, 1]
    with sqlite3.connect(tmp_path / "study.db") as db:
        states = [s for (s,) in db.execute("select state from trials order by number")]
    assert states == ["COMPLETE", "RUNNING"]  # the phase's start point, then experiment 1
    assert json.loads((tmp_path / "best_config.json").read_text())["best_experiment"] in (0, 1)
    assert len((tmp_path / "results.tsv").read_text().splitlines()) == 3  # header and two rows


def test_resuming_with_other_settings_is_refused(tmp_path, tiny_settings, tiny_space):
    Autoresearch(
        dataclasses.replace(tiny_settings, trials_per_phase=1), tmp_path, space=tiny_space
    ).run()
    other = dataclasses.replace(tiny_settings, budget=Budget(steps=41))
    with pytest.raises(RunMismatchError, match="other budget"):
        Autoresearch(other, tmp_path, space=tiny_space).run()


def test_unknown_task_and_broken_default_are_clear_errors(tmp_path, tiny_settings, tiny_space):
    with pytest.raises(ConfigurationError, match="unknown task 'mnist'"):
        Autoresearch(dataclasses.replace(tiny_settings, task="mnist"), tmp_path)
    with pytest.raises(ConfigurationError, match="starting configuration is invalid"):
        Autoresearch(
            tiny_settings,
            tmp_path,
            space=tiny_space,
            default={**DEFAULTS["digits"], "optim.warmup_steps": -1},
        )


def test_more_seeds_run_every_candidate_fully_and_lower_the_level(
    tmp_path, tiny_settings, tiny_space
):
    Autoresearch(dataclasses.replace(tiny_settings, seeds=4), tmp_path, space=tiny_space).run()
    records = Ledger(tmp_path).records()
    assert records[0].runs and len(records[0].runs) == 4  # the baseline: max(3, seeds)
    scored = [r for r in records[1:] if r.status != "crash"]
    assert scored and all(len(r.runs) == 4 for r in scored)  # no one-run screen
    assert all("seeds [0, 1, 2, 3]" in r.description for r in scored)
    assert _assert_keep_rule_held(records) == len(records) - 1
    assert not any(r.parent_runs for r in records)  # no confirmation unless asked for
    with pytest.raises(ConfigurationError, match="seeds must be >= 2"):
        Autoresearch(dataclasses.replace(tiny_settings, seeds=1), tmp_path / "other")


def test_confirmed_keeps_won_twice_and_later_candidates_pair_with_their_seeds(
    tmp_path, tiny_settings, tiny_space, scripted_proposer
):
    """Real runs: at 40 steps lr 0.02 beats the default's 0.003 by ~0.06 on any seeds."""
    replies = ['{"changes": {"optim.lr": 0.02}}', '{"changes": {"optim.lr": 0.0001}}']
    replies += ['{"changes": {"model.hidden": 32}}', '{"changes": {"model.hidden": 64}}']
    settings = dataclasses.replace(
        tiny_settings, seeds=3, confirm=True, proposer=scripted_proposer(replies)
    )
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    records = Ledger(tmp_path).records()
    assert _assert_keep_rule_held(records) == len(records) - 1
    kept = records[1]
    assert kept.status == "keep" and kept.seeds == [3, 4, 5] and len(kept.screen_runs) == 3
    assert "fresh seeds [3, 4, 5]" in kept.description
    for later in records[2:]:  # paired with the kept one's fresh seeds, no confirmation needed
        assert later.status == "discard" and later.seeds == [3, 4, 5] and not later.parent_runs


def test_a_folder_from_before_the_seeds_and_confirm_settings_still_resumes(
    tmp_path, tiny_settings, tiny_space
):
    settings = dataclasses.replace(tiny_settings, trials_per_phase=1)
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    run = json.loads((tmp_path / "run.json").read_text())
    del run["seeds"], run["confirm"]
    (tmp_path / "run.json").write_text(json.dumps(run))
    before = Ledger(tmp_path).records()
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    assert Ledger(tmp_path).records() == before  # nothing left to run, nothing refused


def test_runs_side_by_side_in_one_process_keep_their_own_logs(tmp_path, tiny_settings, tiny_space):
    """Contributors run searches in threads of one process: each log holds only its own run,
    and a run that ends first does not silence the other (the logger level is shared)."""
    short = dataclasses.replace(tiny_settings, trials_per_phase=1)
    folders = [tmp_path / "a", tmp_path / "b"]
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(Autoresearch(short, folders[0], space=tiny_space).run)
        log = folders[0] / "autoresearch.log"

        def first_has_its_baseline() -> bool:
            assert not first.done(), first.exception() or "the first run ended too soon"
            return log.exists() and "experiment 0" in log.read_text()

        wait_until(first_has_its_baseline, timeout=120, what="baseline of the first run")
        second = pool.submit(Autoresearch(tiny_settings, folders[1], space=tiny_space).run)
        first.result(timeout=300)  # ends first: two experiments left against the second's five
        second.result(timeout=300)
    for folder in folders:
        text = (folder / "autoresearch.log").read_text()
        assert text.count(" INFO experiment ") == len(Ledger(folder).records()), text


def test_a_phase_with_its_own_trials_runs_that_many(tmp_path, tiny_settings, tiny_space):
    phases = [{"name": "lr", "knobs": ["optim.lr"], "trials": 2}]
    space = SearchSpace.parse(
        {**tiny_space.model_dump(), "phases": [*phases, tiny_space.phases[1].model_dump()]}
    )
    settings = dataclasses.replace(tiny_settings, trials_per_phase=1)
    Autoresearch(settings, tmp_path, space=space).run()
    phases_run = [r.phase for r in Ledger(tmp_path).records()[1:]]
    assert phases_run == ["lr", "lr", "width"]
