"""Credit and merge weights on hand-made cases: exact integers, exact sums."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from magnet_market.diloco.credit import largest_remainder, leave_one_out_scores
from magnet_market.diloco.verify import Check, Metric, Verdict
from magnet_market.diloco.weights import merge_weights

ETHER = 10**18


def test_largest_remainder_by_hand():
    assert largest_remainder([1.0, 1.0, 1.0], 100) == [34, 33, 33]  # tie: earlier index
    assert largest_remainder([0.5, 0.25, 0.25], ETHER) == [ETHER // 2, ETHER // 4, ETHER // 4]
    assert largest_remainder([0.0, 3.0, 1.0], 7) == [0, 5, 2]  # quotas 5.25, 1.75
    assert largest_remainder([0.0, 0.0], 100) == [0, 0]  # nobody earned: nothing credited


def test_largest_remainder_sums_exactly_and_stays_within_one_wei():
    rng = random.Random(0)
    for _ in range(200):
        scores = [
            rng.choice([0.0, rng.random(), rng.random() * 1e-9]) for _ in range(rng.randint(1, 9))
        ]
        total = rng.randint(0, 10**24)
        got = largest_remainder(scores, total)
        if sum(scores) == 0:
            assert got == [0] * len(scores)
            continue
        assert sum(got) == total
        denom = sum(Fraction(s) for s in scores)
        for s, c in zip(scores, got, strict=True):
            assert abs(c - total * Fraction(s) / denom) < 1


def test_largest_remainder_refuses_negative_inputs():
    with pytest.raises(ValueError, match="clamp improvements"):
        largest_remainder([1.0, -0.1], 10)
    with pytest.raises(ValueError, match=">= 0 wei"):
        largest_remainder([1.0], -1)


def test_leave_one_out_scores():
    loss = Metric("val_loss", higher_is_better=False)
    # merged loss 2.0; without a: 2.3 (a mattered), without b: 1.9 (b hurt), without c: 2.0
    assert leave_one_out_scores(2.0, [2.3, 1.9, 2.0], loss) == pytest.approx([0.3, 0.0, 0.0])
    acc = Metric("balanced_accuracy", higher_is_better=True)
    assert leave_one_out_scores(0.9, [0.8, 0.95], acc) == pytest.approx([0.1, 0.0])


def verdict(work=None, improvement=None):
    return Verdict("cid", "0xa", (Check("x", True, ""),), improvement=improvement, work=work)


def test_merge_weights():
    vs = [verdict(work=100, improvement=0.3), verdict(work=300, improvement=0.1)]
    assert merge_weights(vs, "work") == pytest.approx([0.25, 0.75])
    assert merge_weights(vs, "improvement") == pytest.approx([0.75, 0.25])
    assert merge_weights(vs, "equal") == [0.5, 0.5]
    flat = [verdict(improvement=-0.1), verdict(improvement=0.0)]
    assert merge_weights(flat, "improvement") == [0.5, 0.5]  # nobody improved: equal
    assert merge_weights([], "work") == []
    with pytest.raises(ValueError, match="weighting must be one of"):
        merge_weights(vs, "stake")
