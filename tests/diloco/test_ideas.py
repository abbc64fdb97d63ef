"""Credit for ideas: the earlier changes a round's accepted work adopted share part of its
reward, by the improvement attributed to each; the attacks an idea thief would try fail."""

from __future__ import annotations

import json

import pytest

from magnet_market.diloco.ideas import Idea, adopts, credit_ideas, first_published
from magnet_market.diloco.round import RoundConfig
from magnet_market.diloco.verify import Submission
from tests.diloco._digits import with_search
from tests.diloco.test_round import REWARD, go
from tests.diloco.test_round import setup as setup

LR = Idea("0xb", 0, {"optim.lr": 0.006})
WARMUP = Idea("0xc", 1, {"optim.warmup_steps": 40})
BASE = {"optim.lr": 0.003, "optim.warmup_steps": 0, "train.batch_size": 32}


def test_an_idea_is_credited_to_its_first_publisher_only():
    copy = Idea("0xthief", 1, {"optim.lr": 0.006})
    earlier = Idea("0xa", 0, {"optim.warmup_steps": 40})
    assert first_published([WARMUP, copy, LR, earlier, Idea("0xd", 0, {})]) == [LR, earlier]


def test_adopting_means_every_knob_at_the_idea_s_value_and_the_idea_not_one_s_own():
    both = {**BASE, "optim.lr": 0.006, "optim.warmup_steps": 40}
    assert adopts(both, "0xa", LR) and adopts(both, "0xa", WARMUP)
    assert not adopts(both, "0xB", LR)  # its own idea, whatever the address's case
    assert not adopts({**BASE, "optim.warmup_steps": 41}, "0xa", WARMUP)
    assert not adopts({**BASE, "optim.warmup_steps": 40.0}, "0xa", WARMUP)  # 40.0 is not 40
    assert not adopts(
        {"optim.warmup_steps": 40}, "0xa", Idea("0xc", 0, {**WARMUP.changes, "x.y": 1})
    )
    assert not adopts(None, "0xa", LR)


def test_the_pool_is_split_by_the_improvement_each_idea_was_attributed():
    adopters = [
        ("0xa", {**BASE, "optim.lr": 0.006, "optim.warmup_steps": 40}, 0.04),  # both: 0.02 each
        ("0xd", {**BASE, "optim.lr": 0.006}, 0.01),  # lr alone
        ("0xe", {**BASE, "optim.lr": 0.006}, -0.5),  # got worse: attributes nothing
    ]
    lines = credit_ideas([LR, WARMUP], adopters, 1000)
    assert [(line.author, line.adopted_by, line.credit_wei) for line in lines] == [
        ("0xb", ("0xa", "0xd", "0xe"), 600),
        ("0xc", ("0xa",), 400),
    ]
    assert [line.score for line in lines] == pytest.approx([0.03, 0.02])


def _with_recipes(setup, recipes: list[dict]) -> list[Submission]:
    subs, tmp = setup[2], setup[3]
    return [
        with_search(sub, tmp / f"idea{i}.safetensors", {"recipe": recipe, "changes": {}})
        for i, (sub, recipe) in enumerate(zip(subs, recipes, strict=True))
    ]


def _round(setup, subs, ideas, share_bps):
    return go(setup, "ideas.safetensors", subs, ideas, idea_share_bps=share_bps).report


def test_a_round_pays_the_ideas_its_accepted_work_adopted_in_the_same_credits(setup):
    # authors 0x0, 0x1, 0x2 are accepted; 0xl (a liar) and 0xs (stale parent) are rejected
    lr = {**BASE, "optim.lr": 0.006}
    subs = _with_recipes(setup, [lr, lr, BASE, lr, lr])
    ideas = [
        Idea("0xs", 0, {"optim.lr": 0.006}),  # a rejected revealer's earlier idea still counts
        Idea("0x9", 0, {"train.batch_size": 32}),  # adopted, but 0x9 did not reveal: no claim
    ]
    rep = _round(setup, subs, ideas, share_bps=1_000)
    (line,) = rep.ideas
    assert (line.author, line.adopted_by, line.credit_wei) == ("0xs", ("0x0", "0x1"), 10**17)
    assert line.score == pytest.approx(sum(s.improvement for s in rep.submissions[:2]))
    credits = rep.credits()
    assert credits["0xs"] == 10**17 and sum(credits.values()) == rep.credited_wei == REWARD
    assert sum(s.credit_wei for s in rep.submissions) == REWARD - 10**17
    assert json.loads(rep.to_json())["ideas"][0]["credit_wei"] == str(10**17)


def test_without_an_adopted_idea_or_a_share_the_whole_reward_pays_the_work(setup):
    subs = _with_recipes(setup, [BASE] * 5)
    for ideas, bps in (([Idea("0xs", 0, {"optim.lr": 0.006})], 1_000), ([], 1_000)):
        rep = _round(setup, subs, ideas, share_bps=bps)
        assert rep.ideas == () and sum(s.credit_wei for s in rep.submissions) == REWARD
    lr = _with_recipes(setup, [{**BASE, "optim.lr": 0.006}] * 5)
    rep = _round(setup, lr, [Idea("0xs", 0, {"optim.lr": 0.006})], share_bps=0)
    assert rep.ideas == () and sum(s.credit_wei for s in rep.submissions) == REWARD


def test_idea_share_is_bounded():
    with pytest.raises(ValueError, match=r"idea_share_bps must be in 0\.\.5000"):
        RoundConfig(idea_share_bps=5_001)
