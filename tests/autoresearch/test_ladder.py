"""The promotion ladder: candidates screened by a cheap proxy run, only those beating the proxy
noise run at the full budget; the ledger says which rung decided each."""

from __future__ import annotations

import dataclasses
import json

import pytest

from magnet_market.autoresearch import Autoresearch, Budget, ConfigurationError, Ledger

from .conftest import TINY_BUDGET


def _reply(lr: float) -> str:
    return json.dumps({"changes": {"optim.lr": lr}, "description": f"lr {lr}"})


def test_a_candidate_that_loses_at_the_proxy_never_runs_at_the_full_budget(
    tmp_path, tiny_space, tiny_settings, scripted_proposer
):
    # lr 1e-5 learns nothing in 10 steps: far behind the default's proxy run
    proposer = scripted_proposer([_reply(1e-5), _reply(3e-3 * 1.01)])
    settings = dataclasses.replace(tiny_settings, proposer=proposer, trials_per_phase=2, proxy=0.25)
    Autoresearch(settings, tmp_path, space=tiny_space.without("model.")).run()
    baseline, slow, *_ = Ledger(tmp_path).records()
    assert baseline.rung == "full" and baseline.proxy_runs == []
    assert (slow.status, slow.rung, slow.runs, slow.metric) == ("discard", "proxy", [], None)
    assert len(slow.proxy_runs) == 1 and len(slow.proxy_parent_runs) == 2
    assert slow.proxy_runs[0] < slow.proxy_parent_runs[0]  # balanced accuracy: lower is worse
    assert "proxy (10 steps) seed 0: gain" in slow.description
    # it cost its proxy run and the best's two proxy runs, nothing at the full budget
    assert slow.cpu_seconds is not None and slow.cpu_seconds < baseline.cpu_seconds


def test_a_promoted_candidate_is_decided_at_the_full_budget(
    tmp_path, tiny_space, tiny_settings, scripted_proposer
):
    proposer = scripted_proposer([_reply(2e-2), _reply(1e-2)])
    settings = dataclasses.replace(tiny_settings, proposer=proposer, trials_per_phase=2, proxy=0.5)
    Autoresearch(settings, tmp_path, space=tiny_space.without("model.")).run()
    _, fast, slower = Ledger(tmp_path).records()
    # lr 0.02 wins at 20 steps by far more than the proxy noise: promoted, kept at 40 steps
    assert (fast.status, fast.rung, len(fast.runs)) == ("keep", "full", 2)
    assert "promoted; seeds [0, 1]" in fast.description
    # the next candidate is screened against the new best's proxy runs: on seed 0 the same
    # run as the keep's own proxy run (runs are deterministic per seed)
    assert (slower.status, slower.rung, slower.parent) == ("discard", "proxy", fast.id)
    assert slower.proxy_parent_runs[0] == fast.proxy_runs[0]


def test_the_proxy_is_a_fraction_of_the_budget(tiny_settings, tmp_path):
    assert Budget(steps=40).scaled(0.25) == Budget(steps=10)
    assert Budget(steps=3).scaled(0.1) == Budget(steps=1)
    assert Budget(seconds=60).scaled(0.25) == Budget(seconds=15)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigurationError, match="proxy must be a fraction"):
            Autoresearch(dataclasses.replace(tiny_settings, proxy=bad), tmp_path)
    assert Budget(steps=40) == TINY_BUDGET
