"""The keep rule's numbers by hand, and the flat configuration round trip."""

from __future__ import annotations

import pytest

from magnet_market.autoresearch import DEFAULTS, Budget, Record, Settings
from magnet_market.autoresearch.config import apply, build, describe, diff, flatten
from magnet_market.autoresearch.keep import confirm, decide, improvement, noise, screen, spread
from magnet_market.autoresearch.loop import _slowest_run
from magnet_market.bitnet import ClassifierConfig, OptimConfig


def test_improvement_follows_the_direction() -> None:
    assert improvement(1.8, 2.0, "minimize") == pytest.approx(0.2)
    assert improvement(0.97, 0.95, "maximize") == pytest.approx(0.02)


def test_noise_is_the_mean_measured_spread_with_a_floor() -> None:
    assert noise([0.1, 0.3], 0.0) == pytest.approx(0.2)
    assert noise([0.1, 0.3], 0.5) == 0.5
    assert noise([], 0.0) == 0.0


def test_the_level_scales_with_the_standard_error_of_the_compared_means() -> None:
    assert noise([0.1, 0.3], 0.0, runs=2) == pytest.approx(0.2)
    assert noise([0.1, 0.3], 0.0, runs=8) == pytest.approx(0.1)  # sqrt(2 / 8) = 1 / 2
    assert noise([0.1, 0.3], 0.15, runs=8) == 0.15  # the floor still holds
    six = decide([0.981] * 6, [0.976] * 6, "maximize", noise([0.007], 0.0, runs=6))
    assert six.keep  # +0.005 > 0.007 * sqrt(1/3) = 0.004: six seeds see what two cannot
    assert not decide([0.981] * 2, [0.976] * 2, "maximize", noise([0.007], 0.0)).keep


def test_spread_is_the_mean_pairwise_difference() -> None:
    assert spread([1.0, 1.3]) == pytest.approx(0.3)
    assert spread([1.0, 1.3, 1.6]) == pytest.approx((0.3 + 0.6 + 0.3) / 3)


def test_screen_only_asks_for_a_better_same_seed_run() -> None:
    assert screen(1.95, 2.00, "minimize").keep
    assert not screen(2.00, 2.00, "minimize").keep
    assert screen(0.97, 0.95, "maximize").gain == pytest.approx(0.02)


def test_decide_compares_means_against_the_noise() -> None:
    best = [2.00, 2.10, 2.90]  # a 3-seed baseline: compared over the same 2 seeds, mean 2.05
    verdict = decide([1.80, 1.85], best, "minimize", 0.1)  # mean 1.825: gain 0.225 > 0.1
    assert verdict.keep and verdict.gain == pytest.approx(0.225)
    noisy = decide([1.70, 2.00], best, "minimize", noise([0.1, 0.3, 0.3], 0.0))  # 0.2 <= 0.233
    assert not noisy.keep and noisy.noise == pytest.approx(0.7 / 3)
    assert "<=" in noisy.explain()


def test_flatten_build_round_trip_and_invalid_configs() -> None:
    optim = OptimConfig(lr=0.01, betas=(0.85, 0.99))
    flat = flatten(ClassifierConfig(hidden=64), 32, optim)
    model, train = build(flat, steps=10, seconds=None, seed=3)
    assert model == ClassifierConfig(hidden=64)
    assert train.optim == optim and train.batch_size == 32 and train.seed == 3
    assert flat["train.augment"] == train.augment == 0.0
    assert build({**flat, "train.augment": 0.25}, steps=1, seconds=None, seed=0)[1].augment == 0.25
    without = {k: v for k, v in flat.items() if k != "train.augment"}
    with pytest.raises(ValueError, match=r"missing \['train.augment'\]"):
        build(without, steps=10, seconds=None, seed=0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        build({**flat, "optim.lr": -1.0}, steps=10, seconds=None, seed=0)
    with pytest.raises(ValueError, match="unknown configuration keys"):
        apply(flat, {"optim.lrr": 1.0})


def test_diff_and_describe() -> None:
    base = DEFAULTS["digits"]
    changed = apply(base, {"optim.lr": 0.0061234, "train.batch_size": 32})
    assert diff(base, changed) == {"optim.lr": 0.0061234, "train.batch_size": 32}
    assert describe(diff(base, changed)) == "optim.lr=0.006123, train.batch_size=32"


def test_confirm_needs_a_fresh_gain_and_a_pooled_gain_above_the_level() -> None:
    screened, best_screened = [0.95, 0.96], [0.90, 0.91, 0.90]
    modest = confirm(screened, best_screened, [0.908, 0.906], [0.905, 0.90], "maximize", 0.004)
    assert modest.keep and modest.fresh_gain == pytest.approx(0.0045)
    assert modest.gain == pytest.approx((0.05 + 0.0045) / 2)  # pooled over four seeds
    assert modest.explain() == "pooled gain +0.02725 > noise 0.004, fresh gain +0.0045"
    lucky = confirm(screened, best_screened, [0.90, 0.905], [0.905, 0.90], "maximize", 0.004)
    assert not lucky.keep and lucky.gain > 0.004 and lucky.fresh_gain == 0.0
    small = confirm([1.99, 1.98], [2.0, 2.0], [1.995, 1.99], [2.0, 2.0], "minimize", 0.02)
    assert not small.keep and small.fresh_gain > 0 and small.gain < 0.02


def test_a_step_budget_times_out_runs_from_the_slowest_kept_speed() -> None:
    steps = Settings("digits", Budget(steps=30))
    assert steps.experiment_timeout() == 3600  # the baseline: its speed is not known yet
    assert steps.experiment_timeout(kept_run_seconds=2.0) == 100
    assert Settings("digits", Budget(seconds=5)).experiment_timeout(2.0) == 75
    assert Settings("digits", Budget(steps=30), timeout=9).experiment_timeout(2.0) == 9


def test_the_timeout_follows_the_slowest_kept_configuration() -> None:
    """After a keep of a bigger batch, runs of the next phases may take that long too."""

    def row(status: str, seconds: float, runs: int, screened: int = 0) -> Record:
        return Record(
            id=0,
            parent=None,
            phase="x",
            status=status,
            description="",
            config={},
            runs=[0.5] * runs,
            screen_runs=[0.5] * screened,
            seconds=seconds,
        )

    baseline, slow_discard = row("keep", 30.0, 3), row("discard", 900.0, 2)
    assert _slowest_run([baseline, slow_discard]) == 10.0  # a discard sets nothing
    assert _slowest_run([baseline, slow_discard, row("keep", 480.0, 2, screened=2)]) == 120.0
