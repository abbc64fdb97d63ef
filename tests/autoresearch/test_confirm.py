"""Confirmation on fresh seeds: a candidate that won on the best's seeds is kept only if it is
better again on seeds no one was selected on, and beats the noise over both seed sets pooled.

The runs are scripted (metric per learning rate and seed) so both branches happen for sure; the
real training behind ``run_isolated`` is covered by the other loop tests.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from magnet_market.autoresearch import Autoresearch, Ledger
from magnet_market.autoresearch import loop as loop_module
from magnet_market.autoresearch.runner import RunOutcome

DEFAULT_LR = 0.003
LUCKY_LR, REAL_LR, MODEST_LR = 0.01, 0.02, 0.03
METRICS = {  # lr -> metric of seeds 0, 1, 2, 3, 4
    DEFAULT_LR: [0.90, 0.91, 0.90, 0.905, 0.90],
    LUCKY_LR: [0.95, 0.96, 0.0, 0.90, 0.905],  # wins on seeds 0-1 only
    REAL_LR: [0.95, 0.96, 0.0, 0.95, 0.955],  # wins on the fresh seeds 3-4 too
    MODEST_LR: [0.95, 0.96, 0.0, 0.908, 0.906],  # better on 3-4, by less than the noise there
}


@pytest.fixture
def scripted_runs(monkeypatch):
    """Replace the experiment process by the METRICS table; returns the (lr, seed) calls."""
    calls: list[tuple[float, int]] = []

    def run(task, config, budget, seed, **kwargs) -> RunOutcome:
        lr = config["optim.lr"]
        calls.append((lr, seed))
        if config["model.hidden"] != 128:  # the width phase: a clear loser
            return RunOutcome(status="ok", metric=0.5, seconds=0.1, cpu_seconds=0.1)
        return RunOutcome(status="ok", metric=METRICS[lr][seed], seconds=0.1, cpu_seconds=0.1)

    monkeypatch.setattr(loop_module, "run_isolated", run)
    return calls


def test_a_lucky_candidate_is_discarded_and_a_real_one_kept(
    tmp_path, tiny_settings, tiny_space, scripted_proposer, scripted_runs
):
    replies = [
        json.dumps({"changes": {"optim.lr": LUCKY_LR}}),
        json.dumps({"changes": {"optim.lr": REAL_LR}}),
        json.dumps({"changes": {"model.hidden": 64}}),
        json.dumps({"changes": {"model.hidden": 32}}),
    ]
    settings = dataclasses.replace(
        tiny_settings, proposer=scripted_proposer(replies), confirm=True, min_improvement=0.001
    )
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    baseline, lucky, real, narrow, narrower = Ledger(tmp_path).records()

    assert baseline.seeds == [0, 1, 2]
    assert lucky.status == "discard" and lucky.description.endswith("(not confirmed)")
    assert "fresh seeds [3, 4]: [0.9, 0.905] vs the best's [0.905, 0.9]" in lucky.description
    assert "fresh gain +0" in lucky.description  # pooled it passed; on the fresh seeds, level
    # every run it cost is in its row, the fresh ones last
    assert lucky.seeds == [0, 1, 3, 4] and lucky.runs == [0.95, 0.96, 0.90, 0.905]
    assert lucky.parent_runs == [0.905, 0.9]

    # kept on its fresh-seed runs: the metric is not the one it was selected on
    assert real.status == "keep" and real.parent == 0
    assert (real.seeds, real.runs, real.screen_runs) == ([3, 4], [0.95, 0.955], [0.95, 0.96])
    assert real.metric == pytest.approx(0.9525) and real.parent_runs == [0.905, 0.9]
    # the default ran on the fresh seeds once: the second confirmation reused those runs
    assert scripted_runs.count((DEFAULT_LR, 3)) == 1

    # later candidates pair with the new best's seeds; a first run that loses ends it (n = 2)
    for loser in (narrow, narrower):
        assert loser.status == "discard" and loser.parent == real.id and loser.seeds == [3]
    best = json.loads((tmp_path / "best_config.json").read_text())
    assert best["config"]["optim.lr"] == REAL_LR


def test_without_confirmation_the_lucky_candidate_is_kept(
    tmp_path, tiny_settings, tiny_space, scripted_proposer, scripted_runs
):
    replies = [json.dumps({"changes": {"optim.lr": LUCKY_LR}})] + ['{"changes": {}}'] * 3
    settings = dataclasses.replace(tiny_settings, proposer=scripted_proposer(replies))
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    lucky = Ledger(tmp_path).records()[1]
    assert lucky.status == "keep" and lucky.seeds == [0, 1] and not lucky.parent_runs
    assert all(seed < 3 for _, seed in scripted_runs)


def test_a_gain_the_fresh_seeds_confirm_is_kept_on_the_pooled_evidence(
    tmp_path, tiny_settings, tiny_space, scripted_proposer, scripted_runs
):
    """On the fresh seeds alone the gain (+0.0045) is below the level for two runs (0.0059);
    pooled with the screen runs (+0.027) it is far above the level for four (0.0042)."""
    replies = [json.dumps({"changes": {"optim.lr": MODEST_LR}})] + ['{"changes": {}}'] * 3
    settings = dataclasses.replace(
        tiny_settings, proposer=scripted_proposer(replies), confirm=True, min_improvement=0.001
    )
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    modest = Ledger(tmp_path).records()[1]
    assert modest.status == "keep", modest.description
    assert "pooled gain +0.02725 > noise 0.004184, fresh gain +0.0045" in modest.description
    assert (modest.seeds, modest.runs) == ([3, 4], [0.908, 0.906])
