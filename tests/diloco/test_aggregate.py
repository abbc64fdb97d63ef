"""Aggregation rules on hand-made stacks of pseudo-gradients."""

from __future__ import annotations

import pytest
import torch

from magnet_market.diloco.aggregate import AggregationConfig, aggregate, clip_scales

EQUAL4 = torch.ones(4)


def col(*values):
    return torch.tensor(values, dtype=torch.float32).view(-1, 1)  # (K, 1)


def test_trimmed_mean_drops_one_extreme_each_side_of_four():
    got = aggregate(col(1, 2, 3, 100), EQUAL4, AggregationConfig(clip_multiple=None))
    assert got.item() == pytest.approx(2.5)


def test_trimmed_mean_weights_follow_their_values():
    # sorted: 1 (w1), 2 (w3), 3 (w1), 100 (w1) -> keep 2 and 3 -> (3*2 + 1*3) / 4
    w = torch.tensor([1.0, 1.0, 3.0, 1.0])
    assert aggregate(col(100, 1, 2, 3), w, AggregationConfig()).item() == pytest.approx(2.25)


def test_trimmed_mean_is_coordinate_wise():
    stack = torch.tensor([[1.0, -50.0], [2.0, 0.0], [3.0, 1.0], [90.0, 2.0]])  # (K=4, 2)
    assert aggregate(stack, EQUAL4, AggregationConfig()).tolist() == [2.5, 0.5]


def test_three_inputs_are_not_trimmed():
    got = aggregate(col(1, 2, 6), torch.ones(3), AggregationConfig())
    assert got.item() == pytest.approx(3.0)


def test_median_odd_and_even():
    median = AggregationConfig(method="median")
    assert aggregate(col(1, 5, 2), torch.ones(3), median).item() == 2.0
    assert aggregate(col(1, 2, 3, 100), EQUAL4, median).item() == 2.5


def test_weighted_mean():
    mean = AggregationConfig(method="mean")
    assert aggregate(col(1, 4), torch.tensor([3.0, 1.0]), mean).item() == pytest.approx(1.75)


def test_clip_scales_use_the_lower_median():
    # median of 4 is the lower middle (2): bound 4, only the outlier is scaled
    assert clip_scales([1.0, 2.0, 3.0, 100.0], 2.0) == pytest.approx([1, 1, 1, 0.04])
    assert clip_scales([1.0, 100.0], None) == [1.0, 1.0]
    assert clip_scales([0.0, 0.0], 2.0) == [1.0, 1.0]


def test_bad_settings_say_how_to_fix():
    with pytest.raises(ValueError, match="method must be one of"):
        AggregationConfig(method="krum")
    with pytest.raises(ValueError, match=r"trim_fraction must be in \[0, 0.5\)"):
        AggregationConfig(trim_fraction=0.5)
    with pytest.raises(ValueError, match="None to disable"):
        AggregationConfig(clip_multiple=0)
    with pytest.raises(ValueError, match="positive weights"):
        aggregate(col(1, 2), torch.tensor([1.0, 0.0]), AggregationConfig())
