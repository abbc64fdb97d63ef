"""Starting every experiment from a checkpoint (the round's parent in the MAGNET flow)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from magnet_market.autoresearch import (
    DEFAULTS,
    Autoresearch,
    Budget,
    Ledger,
    RunMismatchError,
    Settings,
)
from magnet_market.autoresearch.runner import run_isolated
from magnet_market.bitnet import ClassifierConfig, TrainConfig, build_model, checkpoint, train
from magnet_market.tasks import DigitsData


def _trained_parent(path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model(ClassifierConfig(hidden=64))
    train(model, DigitsData(), TrainConfig(steps=200, batch_size=64))
    return checkpoint.from_model(model).save(path)


def test_experiments_start_from_the_checkpoint_and_keep_its_shape(tmp_path, tiny_space):
    parent = str(_trained_parent(tmp_path / "parent.safetensors"))
    settings = Settings("digits", Budget(steps=5), trials_per_phase=2, timeout=60, init=parent)
    loop = Autoresearch(settings, tmp_path / "run", space=tiny_space)
    assert [p.name for p in loop.space.phases] == ["lr"]  # the width phase cannot apply
    loop.run()
    records = Ledger(tmp_path / "run").records()
    assert all(r.config["model.hidden"] == 64 for r in records)
    assert records[0].metric > 0.9  # 5 steps from scratch reach ~0.3; from the parent ~0.97
    scratch = run_isolated("digits", records[0].config, Budget(steps=5), 0, timeout=60)
    assert scratch.metric < 0.8
    # Another checkpoint under the same path: new candidates would be compared with a best
    # scored from the old weights, so the run is not resumed.
    torch.manual_seed(1)
    checkpoint.from_model(build_model(ClassifierConfig(hidden=64))).save(Path(parent))
    more = Settings("digits", Budget(steps=5), trials_per_phase=3, timeout=60, init=parent)
    with pytest.raises(RunMismatchError, match="other init_sha256"):
        Autoresearch(more, tmp_path / "run", space=tiny_space).run()


def test_a_checkpoint_of_another_shape_is_a_crash_with_the_reason(tmp_path):
    parent = str(_trained_parent(tmp_path / "parent.safetensors"))
    config = DEFAULTS["digits"]  # hidden 128, the parent has 64
    out = run_isolated("digits", config, Budget(steps=5), 0, timeout=60, init=parent)
    assert out.status == "crash" and "the experiment needs a train checkpoint" in out.reason
