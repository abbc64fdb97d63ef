"""The series task: weekly CO2 direction, split by time, features from the past only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from statsmodels.datasets import co2
from torch import nn

from magnet_market.autoresearch import DEFAULTS, Budget
from magnet_market.autoresearch.evaluate import run_experiment
from magnet_market.tasks.series import SeriesData


@pytest.fixture(scope="module")
def data() -> SeriesData:
    return SeriesData()


@pytest.fixture(scope="module")
def level():
    return co2.load_pandas().data["co2"]


def test_parts_follow_each_other_in_time(data):
    sizes = {name: hi - lo for name, (lo, hi) in data.split_index.items()}
    assert sizes["train"] > 1300 and 290 < sizes["val"] < 320 and 290 < sizes["test"] < 320
    assert data.weeks.is_monotonic_increasing and data.weeks.is_unique
    train_end, val_start = data.split_index["train"][1], data.split_index["val"][0]
    assert train_end == val_start and data.split_index["val"][1] == data.split_index["test"][0]
    # the last train example calls a week that is not after the first validation example's week
    assert data.weeks[train_end - 1] + np.timedelta64(7, "D") <= data.weeks[val_start]
    x, y = data.part("test")
    assert x.shape == (sizes["test"], 54) and x.dtype == torch.float32 and y.dtype == torch.long


def test_labels_are_next_week_up_and_features_look_back_only(data, level):
    pos = {week: i for i, week in enumerate(level.index)}
    x, y = data.part("train")
    for i in (0, 500, 1000):
        t = pos[data.weeks[i]]
        assert int(y[i]) == int(level.iloc[t + 1] > level.iloc[t])
        past = level.iloc[t - 52 : t + 1].to_numpy()
        if not np.isnan(past).any():  # no interpolated week in this window
            assert np.allclose(x[i, :52].numpy() * data.scale, np.diff(past), atol=1e-4)
    assert float(data.part("val")[1].float().mean()) == pytest.approx(0.55, abs=0.02)


class Oracle(nn.Module):
    """Knows the answers of one part (by row), or always says ``up``."""

    def __init__(self, answers: torch.Tensor | None) -> None:
        super().__init__()
        self.answers = answers

    def forward(self, x, y=None):
        up = torch.ones(x.shape[0], dtype=torch.long) if self.answers is None else self.answers
        logits = nn.functional.one_hot(up, 2).float() * 5
        return logits, nn.functional.cross_entropy(logits, y)


def test_hit_rate_on_the_chosen_holdout():
    val, test = SeriesData(), SeriesData(holdout="test")
    assert val.evaluate(Oracle(val.part("val")[1]))["hit_rate"] == 1.0
    assert test.evaluate(Oracle(test.part("test")[1]))["hit_rate"] == 1.0
    always_up = test.evaluate(Oracle(None))["hit_rate"]
    assert always_up == pytest.approx(float(test.part("test")[1].float().mean()))
    x, _ = test.get_batch("val", 8, torch.Generator().manual_seed(0))
    assert any(torch.equal(x[0], row) for row in test.part("test")[0])  # "val" batches: holdout


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"window": 0}, "window"),
        ({"val_fraction": 0.0}, "fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "fraction"),
        ({"holdout": "train"}, "holdout"),
    ],
)
def test_bad_options_are_refused(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        SeriesData(**kwargs)


def test_the_default_bitnet_classifier_calls_better_than_always_up(data):
    majority = float(data.part("val")[1].float().mean())
    result = run_experiment("series", DEFAULTS["series"], Budget(steps=150), seed=0)
    assert result.metric > majority + 0.08  # a real signal: ~0.72 against 0.55
