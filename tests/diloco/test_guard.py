"""The merge guard: a round never leaves a model worse than the best contribution it merged."""

from __future__ import annotations

import json

import pytest

from magnet_market.bitnet.checkpoint import load
from magnet_market.diloco.outer import OuterConfig
from magnet_market.diloco.round import with_merged_cid
from magnet_market.diloco.verify import Submission, VerifyRules
from tests.diloco._digits import tamper
from tests.diloco.test_round import REWARD, go
from tests.diloco.test_round import setup as setup

TOLERANCE = VerifyRules().regression_tolerance
OVERSHOOT = OuterConfig(lr=4.0)  # far past one contribution's own weights


def only_first(setup_):
    return setup_[2][:1]


def idle(setup_, folder):
    """An accepted "contribution" that is the parent unchanged (with the first one's metadata)."""
    _, parent, subs, _ = setup_
    path = tamper(
        subs[0].path, folder / "idle.safetensors", fn=lambda t: {**t, **load(parent).tensors}
    )
    return Submission("bafyidle", "0xidle", path, claimed_metric=10.0)


def test_one_contribution_that_the_outer_step_would_spoil(setup):
    """One accepted contribution, an outer step that overshoots it: the average (the
    contribution itself) is kept, and the report shows both attempts."""
    unguarded = go(setup, "g-off.safetensors", only_first(setup), outer=OVERSHOOT, guard=False)
    rep = unguarded.report
    best = rep.submissions[0].measured
    assert rep.merge_step == "outer" and [a.step for a in rep.merge_attempts] == ["outer"]
    assert rep.merged_metric > best + TOLERANCE  # what the guard is for: the step spoils it

    guarded = go(setup, "g-on.safetensors", only_first(setup), outer=OVERSHOOT)
    rep = guarded.report
    assert rep.merge_step == "average"
    assert [(a.step, a.kept) for a in rep.merge_attempts] == [("outer", False), ("average", True)]
    assert rep.merge_attempts[0].metric == unguarded.report.merged_metric
    assert rep.merged_metric == rep.merge_attempts[1].metric
    assert rep.merged_metric == pytest.approx(best, abs=1e-5)
    assert rep.credited_wei == REWARD


def test_the_damped_step_restarts_the_outer_momentum(setup):
    """The average is lr 1 without momentum: the merged file says so, and its momentum buffer
    is this round's pseudo-gradient alone."""
    _, parent, subs, _ = setup
    merged = load(go(setup, "g-mom.safetensors", subs[:1], outer=OVERSHOOT).merged_path)
    assert json.loads(merged.extra["diloco"])["outer"] == {
        "lr": 1.0,
        "momentum": 0.0,
        "nesterov": False,
    }
    theta, own = load(parent).tensors, load(subs[0].path).tensors
    for name, value in theta.items():
        momentum = merged.tensors["outer_momentum." + name.removeprefix("model.")]
        assert momentum == pytest.approx(value - own[name], abs=1e-6)


def test_a_do_nothing_partner_falls_back_to_the_best_contribution(setup, tmp_path):
    """A second accepted "contribution" that is the parent unchanged halves every step: the
    outer step and the average both fall short of the real work, so the best one alone is
    kept, and it gets the whole credit."""
    subs = setup[2]
    outcome = go(setup, "g-best.safetensors", [subs[0], idle(setup, tmp_path)])
    rep = outcome.report
    assert [s.status for s in rep.submissions] == ["accepted", "accepted"]
    assert [(a.step, a.kept) for a in rep.merge_attempts] == [
        ("outer", False),
        ("average", False),
        ("best", True),
    ]
    assert rep.merged_metric == pytest.approx(rep.submissions[0].measured, abs=1e-5)
    assert [s.credit_wei for s in rep.submissions] == [REWARD, 0]


def test_a_good_outer_step_is_kept_and_costs_one_evaluation(setup):
    rep = go(setup, "g-good.safetensors").report
    assert rep.merge_step == "outer" and [a.step for a in rep.merge_attempts] == ["outer"]
    assert rep.merged_metric <= min(s.measured for s in rep.submissions[:3]) + TOLERANCE


def test_the_guard_is_replayed_byte_for_byte(setup):
    a = go(setup, "g-r1.safetensors", only_first(setup), outer=OVERSHOOT).report
    b = go(setup, "g-r2.safetensors", only_first(setup), outer=OVERSHOOT).report
    assert with_merged_cid(a, "bafym").to_json() == with_merged_cid(b, "bafym").to_json()
    doc = json.loads(a.to_json())
    assert doc["merge_step"] == "average" and doc["config"]["guard"] is True
    assert [x["step"] for x in doc["merge_attempts"]] == ["outer", "average"]


def test_leave_one_out_credit_follows_the_kept_step(setup, tmp_path):
    """Under the "best" step, the work that was not kept changed nothing and earns nothing."""
    subs = setup[2]
    rep = go(setup, "g-loo.safetensors", [subs[0], idle(setup, tmp_path)], credit="leave_one_out")
    assert rep.report.merge_step == "best"
    assert [s.credit_wei for s in rep.report.submissions] == [REWARD, 0]
