"""A whole coordinator round on digits: verify, merge, credit, report; then a chained round."""

from __future__ import annotations

import json

import pytest
import torch

from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.checkpoint import load
from magnet_market.diloco.aggregate import AggregationConfig
from magnet_market.diloco.round import RoundConfig, run_round, with_merged_cid
from magnet_market.diloco.verify import Submission, VerifyRules
from magnet_market.tasks import DigitsData
from tests.diloco._digits import (
    CONFIG,
    INNER_STEPS,
    PARENT_CID,
    contribute,
    parent_checkpoint,
    tamper,
)

REWARD = 10**18 + 7  # odd on purpose: largest-remainder must place every wei


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("round")
    data = DigitsData()
    parent = parent_checkpoint(tmp / "parent.safetensors")
    honest = [contribute(parent, data, seed=s, path=tmp / f"h{s}.safetensors") for s in (1, 2, 3)]
    liar = tamper(honest[0], tmp / "liar.safetensors", metrics={"val_loss": 0.01})
    wrong_parent = tamper(honest[1], tmp / "stale.safetensors", parent_cid="bafyold")
    subs = [Submission(f"bafyh{i}", f"0x{i}", p) for i, p in enumerate(honest)]
    subs += [Submission("bafyliar", "0xl", liar), Submission("bafystale", "0xs", wrong_parent)]
    return data, parent, subs, tmp


def go(setup, out_name, submissions=None, ideas=(), rules=None, **config):
    """The round on ``setup``'s submissions (or ``submissions``) with ``config``'s settings and
    ``rules`` (default: the task's inner steps, the other rules' defaults)."""
    data, parent, subs, tmp = setup
    return run_round(
        task_id=7,
        round_index=1,
        parent_path=parent,
        parent_cid=PARENT_CID,
        model_config=CONFIG,
        submissions=subs if submissions is None else submissions,
        evaluate=data.evaluate,
        reward_wei=REWARD,
        out=tmp / out_name,
        config=RoundConfig(rules=rules or VerifyRules(max_steps=INNER_STEPS), **config),
        ideas=ideas,
    )


def test_round_merges_honest_work_and_credits_it(setup):
    outcome = go(setup, "merged.safetensors")
    rep = outcome.report
    assert [s.status for s in rep.submissions] == ["accepted"] * 3 + ["dishonest", "rejected"]
    credits = [s.credit_wei for s in rep.submissions]
    assert sum(credits) == rep.credited_wei == REWARD and credits[3:] == [0, 0]
    assert all(c > 0 for c in credits[:3])
    # credit follows measured improvement
    imps = [s.improvement for s in rep.submissions[:3]]
    assert [c / REWARD for c in credits[:3]] == pytest.approx(
        [i / sum(imps) for i in imps], abs=1e-9
    )
    assert [s.weight for s in rep.submissions] == pytest.approx([1 / 3] * 3 + [0, 0])  # equal work
    assert rep.merged_metric < rep.parent_metric  # the merge helps
    merged = checkpoint.load(outcome.merged_path)
    assert merged.parent_cid == PARENT_CID and any(
        k.startswith("outer_momentum.") for k in merged.tensors
    )


def test_report_json_is_deterministic_and_complete(setup):
    a = go(setup, "m1.safetensors").report
    b = go(setup, "m2.safetensors").report
    text = with_merged_cid(a, "bafymerged").to_json()
    assert text == with_merged_cid(b, "bafymerged").to_json()
    doc = json.loads(text)
    assert doc["merged_cid"] == "bafymerged" and doc["parent_cid"] == PARENT_CID
    assert doc["reward_wei"] == str(REWARD) and doc["credited_wei"] == str(REWARD)
    assert sum(int(s["credit_wei"]) for s in doc["submissions"]) == REWARD
    liar = doc["submissions"][3]
    assert liar["status"] == "dishonest" and liar["claimed"] == 0.01
    assert [c["name"] for c in liar["checks"] if not c["passed"]] == ["claim"]
    assert doc["config"]["outer"] == {"lr": 0.7, "momentum": 0.9, "nesterov": True}
    assert doc["config"]["aggregation"]["method"] == "trimmed_mean"


def test_leave_one_out_credit(setup):
    rep = go(setup, "loo.safetensors", credit="leave_one_out").report
    credits = [s.credit_wei for s in rep.submissions]
    assert credits[3:] == [0, 0]
    assert sum(credits) in (0, REWARD)  # all of it, or nothing if no one was indispensable


def noisy_but_merging(setup, folder) -> list[Submission]:
    """Three contributions that each carry half of an honest update plus noise that cancels in
    their average (noise 8x the update's spread): each is worse than the parent alone, their
    merge is better. Small-batch DiLoCo work at scale looks like this (docs/diloco.md)."""
    _, parent, subs, _ = setup
    start, honest = load(parent).tensors, load(subs[0].path).tensors
    gen = torch.Generator().manual_seed(0)
    weights = [k for k in start if k.startswith("model.") and start[k].is_floating_point()]

    def noise() -> dict[str, torch.Tensor]:
        return {k: torch.randn(start[k].shape, generator=gen) * 8 * (honest[k] - start[k]).std()
                for k in weights}  # fmt: skip

    a, b = noise(), noise()
    out = []
    for i, n in enumerate((a, b, {k: -a[k] - b[k] for k in weights})):
        moved = {k: start[k] + 0.5 * (honest[k] - start[k]) + n[k] for k in weights}
        path = tamper(
            subs[0].path, folder / f"noisy{i}.safetensors", fn=lambda t, m=moved: {**t, **m}
        )
        out.append(Submission(f"bafynoisy{i}", f"0xn{i}", path, claimed_metric=10.0))
    return out


def test_credit_falls_back_to_leave_one_out_when_only_the_merge_improved(setup, tmp_path):
    parent = setup[1]
    noisy = noisy_but_merging(setup, tmp_path)
    lenient = VerifyRules(max_steps=INNER_STEPS, regression_tolerance=10.0, max_update_ratio=100.0)
    plain = AggregationConfig(method="mean", clip_multiple=None)

    def judged(rule: str, submissions: list[Submission]):
        out = f"{rule}-{len(submissions)}.safetensors"
        return go(setup, out, submissions, rules=lenient, aggregation=plain, credit=rule).report

    by_gain = judged("improvement", noisy)
    assert all(s.status == "accepted" and s.improvement < 0 for s in by_gain.submissions)
    assert by_gain.merged_metric < by_gain.parent_metric  # the merge improved; no one alone did
    assert by_gain.credited_wei == 0 and by_gain.credited_by is None
    fallback = judged("improvement_else_leave_one_out", noisy)
    assert fallback.merged_metric == by_gain.merged_metric  # credit never changes the merge
    assert fallback.credited_by == "leave_one_out" and fallback.credited_wei == REWARD
    credits = [s.credit_wei for s in fallback.submissions]
    assert credits == [s.credit_wei for s in judged("leave_one_out", noisy).submissions]
    assert all(c > 0 for c in credits)  # each one's noise is needed to cancel the others'
    # a free rider (the parent unchanged, claiming work) adds nothing to the merge: paid nothing
    rider = tamper(noisy[0].path, tmp_path / "rider.safetensors",
                   fn=lambda t: {**t, **load(parent).tensors})  # fmt: skip
    with_rider = judged(
        "improvement_else_leave_one_out",
        [*noisy, Submission("bafyr", "0xr", rider, claimed_metric=10.0)],
    )
    assert with_rider.credited_by == "leave_one_out"
    assert (
        with_rider.submissions[3].status == "accepted" and with_rider.submissions[3].credit_wei == 0
    )


def test_the_fallback_rule_credits_by_improvement_when_someone_improved(setup):
    by_gain = go(setup, "gain.safetensors").report
    rep = go(setup, "fallback.safetensors", credit="improvement_else_leave_one_out").report
    assert rep.credited_by == by_gain.credited_by == "improvement"
    assert [s.credit_wei for s in rep.submissions] == [s.credit_wei for s in by_gain.submissions]


def test_no_accepted_submission_keeps_the_parent(setup):
    data, parent, subs, tmp = setup
    outcome = run_round(
        task_id=7,
        round_index=1,
        parent_path=parent,
        parent_cid=PARENT_CID,
        model_config=CONFIG,
        submissions=subs[3:],
        evaluate=data.evaluate,
        reward_wei=REWARD,
        out=tmp / "none.safetensors",
    )
    assert outcome.merged_path is None and outcome.report.merged_metric is None
    assert outcome.report.credited_wei == 0 and not (tmp / "none.safetensors").exists()


def test_rounds_chain_through_the_merged_checkpoint(setup):
    """Round 2 trains from round 1's merge, which carries the outer momentum forward."""
    data, _, _, tmp = setup
    first = go(setup, "r1.safetensors")
    r1_cid = "bafyr1"
    subs = [
        Submission(
            f"bafyr2c{s}",
            f"0x{s}",
            contribute(first.merged_path, data, s + 10, tmp / f"r2c{s}.st", r1_cid),
        )
        for s in (1, 2, 3)
    ]
    second = run_round(
        task_id=7,
        round_index=2,
        parent_path=first.merged_path,
        parent_cid=r1_cid,
        model_config=CONFIG,
        submissions=subs,
        evaluate=data.evaluate,
        reward_wei=REWARD,
        out=tmp / "r2.safetensors",
        config=RoundConfig(rules=VerifyRules(max_steps=INNER_STEPS)),
    )
    assert [s.status for s in second.report.submissions] == ["accepted"] * 3
    assert second.report.parent_metric == pytest.approx(first.report.merged_metric)
    assert second.report.merged_metric < second.report.parent_metric
    assert checkpoint.load(second.merged_path).step == 2


def test_round_never_loads_a_whole_checkpoint(setup, monkeypatch):
    """Parent, submissions and merge are streamed tensor by tensor (bounded coordinator memory)."""

    def whole_file(*_args, **_kwargs):
        raise AssertionError("the round loaded a whole checkpoint")

    monkeypatch.setattr(checkpoint, "load", whole_file)
    monkeypatch.setattr(checkpoint, "from_bytes", whole_file)
    outcome = go(setup, "streamed.safetensors")
    assert [s.status for s in outcome.report.submissions][:3] == ["accepted"] * 3
