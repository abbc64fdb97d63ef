"""The contributor's per-round search plan: which phases get the spec's trials."""

from __future__ import annotations

import json
import re

import pytest

from magnet_market.autoresearch import Budget, Ledger
from magnet_market.bitnet.train import OptimConfig
from magnet_market.tasks.spec import base_checkpoint, parse_spec
from magnet_market.tuning import carried_recipe, plan, search_budget, swarm_offset, tune

SPEC = {"name": "d", "kind": "digits", "rounds": 1, "inner_steps": 5, "market": {"bounty": 1}}


def _plan(trials: int) -> list[tuple[str, int | None]]:
    space = plan(parse_spec({**SPEC, "search": {"trials": trials}}))
    return [(p.name, p.trials) for p in space.phases]


def test_few_trials_go_to_the_first_phases_many_are_shared_to_the_last_one():
    all_phases = parse_spec(SPEC).search_space().phases
    assert len(all_phases) == 8 and not any("model." in k for p in all_phases for k in p.knobs)
    assert _plan(2) == [("lr", 1), ("warmup", 1)]
    shares = _plan(17)  # 8 phases: 2 each, and the first one a third
    assert [name for name, _ in shares] == [p.name for p in all_phases]
    assert [n for _, n in shares] == [3, 2, 2, 2, 2, 2, 2, 2]
    assert sum(n for _, n in _plan(15)) == 15


def test_no_trials_trains_with_the_specs_recipe(tmp_path):
    optim = {"lr": 1.5e-3, "warmup_steps": 0}
    spec = parse_spec({**SPEC, "batch_size": 64, "optim": optim, "search": {"trials": 0}})
    recipe = tune(spec, tmp_path / "never-read.safetensors", tmp_path / "search", seed=1)
    cfg = recipe.train_config(steps=7, seed=3)
    assert (cfg.batch_size, cfg.augment, cfg.optim, cfg.steps, cfg.seed) == (
        64,
        0.0,
        OptimConfig(lr=1.5e-3, warmup_steps=0),
        7,
        3,
    )
    assert recipe.experiments == 0
    assert not (tmp_path / "search").exists()


def test_experiments_train_the_rounds_inner_steps_unless_the_spec_sets_seconds():
    assert search_budget(parse_spec(SPEC)) == Budget(steps=5)
    timed = parse_spec({**SPEC, "search": {"budget_seconds": 2.5}})
    assert search_budget(timed) == Budget(seconds=2.5)


def test_a_search_of_another_version_is_set_aside_and_the_round_searches_again(tmp_path):
    """A contributor upgraded mid-round finds a search it would run differently: it keeps it
    beside the folder and starts over, instead of refusing to resume or mixing the two."""
    parent = tmp_path / "parent.safetensors"
    parent.write_bytes(base_checkpoint(parse_spec(SPEC)).to_bytes())
    folder = tmp_path / "search"
    timed = parse_spec({**SPEC, "search": {"trials": 1, "budget_seconds": 0.2}})
    old = tune(timed, parent, folder, seed=1)
    assert old.set_aside is None and old.experiments == 1
    old_ledger = (folder / "results.tsv").read_text()

    recipe = tune(parse_spec({**SPEC, "search": {"trials": 1}}), parent, folder, seed=1)
    assert recipe.set_aside == tmp_path / "search.old-1"
    assert (recipe.set_aside / "results.tsv").read_text() == old_ledger  # nothing lost
    run = json.loads((folder / "run.json").read_text())
    assert run["budget"] == {"seconds": None, "steps": 5}
    # the market search keeps by the task's own rule: digits runs 6 seeds and confirms keeps
    assert (run["seeds"], run["confirm"]) == (6, True)
    assert len(Ledger(folder).records()[0].runs) == 6  # the baseline's runs
    again = tune(parse_spec({**SPEC, "search": {"trials": 1}}), parent, folder, seed=1)
    assert again.set_aside is None and again.config == recipe.config  # resumed: finished


def test_a_carried_recipe_must_be_one_this_tasks_search_could_have_kept():
    spec = parse_spec({**SPEC, "search": {"trials": 2}})
    default = spec.default_recipe()
    found = {**default, "optim.lr": 0.006, "train.batch_size": 32}
    assert carried_recipe(spec, found) == found
    refusals = [
        ({**default, "optim.momentum": 0.9}, "differ in ['optim.momentum']"),
        ({k: v for k, v in default.items() if k != "optim.lr"}, "differ in ['optim.lr']"),
        ({**default, "optim.lr": 0.5}, "optim.lr: 0.5 is outside"),
        ({**default, "train.batch_size": 48}, "train.batch_size: 48 is not one of"),
        ({**default, "model.hidden": 512}, "model.hidden is 512, the task fixes 128"),
        ({**default, "optim.final_lr": True}, "optim.final_lr: must be a number, got True"),
    ]
    for recipe, reason in refusals:
        with pytest.raises(ValueError, match=re.escape(reason)):
            carried_recipe(spec, recipe)
    # a recipe the spec sets outside the search space (a constant lr: stage_split 1) carries
    constant = {"lr": 1.5e-3, "stage_split": 1.0, "stage1_final": 1.0, "stage2_lr": 1.0,
                "final_lr": 1.0}  # fmt: skip
    fixed = parse_spec({**SPEC, "optim": constant, "search": {"trials": 0}})
    own = fixed.default_recipe()
    assert carried_recipe(fixed, own) == own
    with pytest.raises(ValueError, match=re.escape("optim.stage_split: 0.95 is outside")):
        carried_recipe(fixed, {**own, "optim.stage_split": 0.95})


def test_the_search_starts_from_the_carried_recipe(tmp_path):
    spec = parse_spec({**SPEC, "search": {"trials": 1}})
    parent = tmp_path / "parent.safetensors"
    parent.write_bytes(base_checkpoint(spec).to_bytes())
    start = {**spec.default_recipe(), "optim.lr": 0.006}
    recipe = tune(spec, parent, tmp_path / "search", seed=1, start=start)
    baseline = Ledger(tmp_path / "search").records()[0]
    assert baseline.config == start
    assert recipe.config == {**start, **(recipe.changes or {})}
    assert recipe.summary()["recipe"] == recipe.config
    assert recipe.ledger == tmp_path / "search" / "experiments.jsonl"


def test_swarm_places_start_at_other_phases_and_cover_the_space_together():
    few = parse_spec({**SPEC, "search": {"trials": 3}})  # 8 phases
    names = [p.name for p in few.search_space().phases]
    covered = []
    for place in range(3):
        phases = plan(few, swarm_offset(few, place)).phases
        assert [p.trials for p in phases] == [1, 1, 1]
        covered += [p.name for p in phases]
    assert covered[:8] == names  # the first places between them sweep every phase once
    assert covered[8] == names[0]  # then wrap around
    many = parse_spec({**SPEC, "search": {"trials": 10}})
    assert [p.name for p in plan(many, swarm_offset(many, 2)).phases] == names[2:] + names[:2]
    assert sum(p.trials for p in plan(many, swarm_offset(many, 2)).phases) == 10
