"""Task specs: every bad field named, canonical pinned form, base checkpoints."""

from __future__ import annotations

from typing import get_args

import pytest

from magnet_market.app.judging import round_config
from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.train import OptimConfig
from magnet_market.diloco.credit import CREDIT_RULES
from magnet_market.tasks.spec import (
    CreditRule,
    SpecError,
    base_checkpoint,
    load_spec,
    parse_spec,
    spec_from_bytes,
)

SPEC_TOML = """
name = "tinylm-stdlib"
kind = "tinylm"
rounds = 2
inner_steps = 20

[model]
seq_len = 32
d_model = 32
n_layers = 1
n_heads = 2

[market]
bounty = "3ether"
claim_bond = "0.01 ether"

[market.timing]
submit = 120
"""


def test_toml_spec_loads_with_defaults_and_units(tmp_path):
    path = tmp_path / "task.toml"
    path.write_text(SPEC_TOML)
    spec = load_spec(path)
    assert (spec.metric, spec.lower_is_better) == ("val_loss", True)
    assert spec.market.bounty == 3 * 10**18 and spec.market.claim_bond == 10**16
    assert spec.market.timing.submit == 120 and spec.market.timing.reveal == 1800
    assert spec.model_config_obj().d_model == 32
    assert spec_from_bytes(spec.canonical_json()) == spec


def test_every_bad_field_is_named():
    with pytest.raises(SpecError) as e:
        parse_spec(
            {
                "name": "",
                "kind": "imagenet",
                "rounds": 500,
                "inner_steps": 0,
                "market": {"bounty": "3 bananas", "timeout_bps": 20_000},
                "typo": 1,
            }
        )
    message = str(e.value)
    for field in (
        "name",
        "kind",
        "rounds",
        "inner_steps",
        "market.bounty",
        "market.timeout_bps",
        "typo",
    ):
        assert f"  {field}:" in message, (field, message)


def test_model_must_fit_the_task_kind():
    base = {"name": "d", "kind": "digits", "rounds": 1, "inner_steps": 5, "market": {"bounty": 1}}
    with pytest.raises(SpecError, match="model: hidden must be >= 1"):
        parse_spec({**base, "model": {"hidden": 0}})
    with pytest.raises(SpecError, match=r"model\.kind must be 'classifier'"):
        parse_spec({**base, "model": {"kind": "transformer"}})
    with pytest.raises(SpecError, match="unknown classifier config keys"):
        parse_spec({**base, "model": {"d_model": 3}})


def test_search_space_must_fit_the_task():
    base = {"name": "d", "kind": "digits", "rounds": 1, "inner_steps": 5, "market": {"bounty": 1}}
    with pytest.raises(SpecError, match=r"search\.space: .*outside knob 'train\.batch_size'"):
        parse_spec({**base, "batch_size": 33})  # the default space cannot return to 33
    assert parse_spec({**base, "batch_size": 33, "search": {"trials": 0}}).batch_size == 33
    widths = {"knobs": {"model.hidden": {"kind": "choice", "choices": [32, 64]}}}
    only_shape = {**widths, "phases": [{"name": "w", "knobs": ["model.hidden"]}]}
    with pytest.raises(SpecError, match=r"every knob is a model\.\* knob"):
        parse_spec({**base, "model": {"hidden": 32}, "search": {"space": only_shape}})
    undeclared = {**widths, "phases": [{"name": "lr", "knobs": ["optim.lr"]}]}
    with pytest.raises(SpecError, match="undeclared knobs"):
        parse_spec({**base, "search": {"space": undeclared}})
    lr = {"knobs": {"optim.lr": {"kind": "float", "low": 1e-3, "high": 1e-2, "log": True}}}
    spec = parse_spec(
        {**base, "search": {"space": {**lr, "phases": [{"name": "lr", "knobs": ["optim.lr"]}]}}}
    )
    assert [p.name for p in spec.search_space().phases] == ["lr"]
    assert spec.default_recipe()["optim.lr"] == 3e-3


def test_the_round_recipe_is_the_engines_with_the_specs_changes():
    base = {"name": "d", "kind": "digits", "rounds": 1, "inner_steps": 5, "market": {"bounty": 1}}
    constant = {"lr": 1.5e-3, "warmup_steps": 0, "stage_split": 1.0, "stage1_final": 1.0,
                "stage2_lr": 1.0, "final_lr": 1.0, "betas": [0.9, 0.99]}  # fmt: skip
    spec = parse_spec({**base, "optim": constant, "search": {"trials": 0}})
    recipe = spec.default_recipe()
    assert (recipe["optim.lr"], recipe["optim.warmup_steps"]) == (1.5e-3, 0)
    assert (recipe["optim.beta2"], recipe["optim.weight_decay"]) == (0.99, 0.1)  # kept
    assert spec_from_bytes(spec.canonical_json()) == spec
    assert parse_spec(base).optim_config() == OptimConfig()
    # pinned as the engine reads it (one recipe, one CID); no recipe pins as before the field
    as_int = parse_spec({**base, "optim": {"lr": 1}, "search": {"trials": 0}})
    as_float = parse_spec({**base, "optim": {"lr": 1.0}, "search": {"trials": 0}})
    assert as_int.canonical_json() == as_float.canonical_json()
    assert b'"optim"' not in parse_spec(base).canonical_json()
    for bad, why in [
        ({"lrr": 1e-3}, r"unknown optim settings \['lrr'\]"),
        ({"lr": 0}, "lr must be > 0"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"warmup_steps": 2.5}, "warmup_steps must be an integer"),
        ({"betas": [0.9]}, "betas must be a pair"),
        ({"betas": [0.9, 1.0]}, r"betas must be in \[0, 1\)"),
        ({"final_lr": 0.9}, "need final_lr <= stage2_lr"),
        ({"eps": float("nan")}, "eps must be a finite number"),
        ({"lr": 10**400}, "lr must be a finite number"),
    ]:
        with pytest.raises(SpecError, match=f"optim: Value error, {why}"):
            parse_spec({**base, "optim": bad})
    with pytest.raises(SpecError, match=r"search\.space: .*outside knob 'optim\.lr'"):
        parse_spec({**base, "optim": {"lr": 10.0}})  # the search cannot return to it


def test_the_credit_rule_is_the_specs_and_reaches_the_round():
    base = {"name": "d", "kind": "digits", "rounds": 1, "inner_steps": 5, "market": {"bounty": 1}}
    assert get_args(CreditRule) == CREDIT_RULES  # the spec offers every rule a round knows
    default = parse_spec(base)
    assert round_config(default).credit == "improvement"
    assert b'"credit"' not in default.canonical_json()  # pinned as before the field existed
    fallback = parse_spec({**base, "verification": {"credit": "improvement_else_leave_one_out"}})
    assert round_config(fallback).credit == "improvement_else_leave_one_out"
    assert spec_from_bytes(fallback.canonical_json()) == fallback
    with pytest.raises(SpecError, match=r"verification\.credit: Input should be 'improvement'"):
        parse_spec({**base, "verification": {"credit": "shapley"}})


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(SpecError, match="not valid toml"):
        load_spec(bad)
    with pytest.raises(SpecError, match="not JSON"):
        spec_from_bytes(b"\x00")


def test_base_checkpoint_is_deterministic_and_loadable(tmp_path):
    path = tmp_path / "task.toml"
    path.write_text(SPEC_TOML)
    spec = load_spec(path)
    first, second = base_checkpoint(spec).to_bytes(), base_checkpoint(spec).to_bytes()
    assert first == second  # same spec, same bytes, same CID
    loaded = checkpoint.from_bytes(first)
    assert loaded.config == spec.model_config_obj() and loaded.step == 0
    other = base_checkpoint(spec.model_copy(update={"seed": 1})).to_bytes()
    assert other != first
