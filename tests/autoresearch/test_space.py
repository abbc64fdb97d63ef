"""The search-space schema: malformed spaces and out-of-space proposals are refused clearly."""

from __future__ import annotations

import json

import pytest

from magnet_market.autoresearch import DEFAULTS, SPACES, SearchSpace
from magnet_market.autoresearch.errors import ProposalRejectedError, SearchSpaceError


def _space(knobs: dict, phases: list | None = None) -> dict:
    return {"knobs": knobs, "phases": phases or [{"name": "p", "knobs": list(knobs)}]}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (_space({"optim.lr": {"kind": "float", "low": 1.0, "high": 0.5}}), "low < high"),
        (_space({"optim.lr": {"kind": "float", "low": 0, "high": 1, "log": True}}), "low > 0"),
        (_space({"x": {"kind": "int", "low": 3, "high": 3}}), "low < high"),
        (_space({"x": {"kind": "choice", "choices": [1, 1]}}), "distinct"),
        (_space({"x": {"kind": "choice", "choices": []}}), "at least 1"),
        (_space({"x": {"kind": "dial", "low": 0}}), "kind"),
        (
            _space({"x": {"kind": "int", "low": 0, "high": 2}}, [{"name": "p", "knobs": ["y"]}]),
            "undeclared knobs ['y']",
        ),
        (
            _space(
                {"x": {"kind": "int", "low": 0, "high": 2}},
                [{"name": "p", "knobs": ["x"]}, {"name": "p", "knobs": ["x"]}],
            ),
            "unique",
        ),
        ({**_space({"x": {"kind": "int", "low": 0, "high": 2}}), "extra": 1}, "extra"),
    ],
)
def test_malformed_spaces_are_refused_with_the_reason(data: dict, needle: str) -> None:
    with pytest.raises(SearchSpaceError, match="invalid search space") as info:
        SearchSpace.parse(data)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_space_file_round_trip_and_bad_json(tmp_path) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SPACES["digits"].model_dump()))
    assert SearchSpace.from_file(path) == SPACES["digits"]
    path.write_text("{not json")
    with pytest.raises(SearchSpaceError, match="cannot read search space"):
        SearchSpace.from_file(path)


@pytest.mark.parametrize("task", ["tinylm", "digits", "series"])
def test_shipped_spaces_fit_their_defaults_and_have_ten_phases(task: str) -> None:
    SPACES[task].check_fits(DEFAULTS[task])
    assert len(SPACES[task].phases) == 10
    # only digits has an augmentation (shifted digits are digits; shifted weeks are not weeks)
    assert ("train.augment" in SPACES[task].knobs) == (task == "digits")


def test_start_point_outside_space_and_unknown_keys_are_errors() -> None:
    space = SearchSpace.parse(_space({"optim.lr": {"kind": "float", "low": 0.1, "high": 1}}))
    with pytest.raises(SearchSpaceError, match=r"outside knob 'optim\.lr'"):
        space.check_fits(DEFAULTS["digits"])  # default lr 3e-3 < 0.1
    space = SearchSpace.parse(_space({"optim.lrr": {"kind": "float", "low": 0.1, "high": 1}}))
    with pytest.raises(SearchSpaceError, match=r"'optim\.lrr' is not a configuration key"):
        space.check_fits(DEFAULTS["digits"])


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"optim.lr": 1.0}, "outside [0.0003, 0.03]"),
        ({"optim.lr": "fast"}, "must be a number"),
        ({"optim.warmup_steps": 2.5}, "phase 'lr' sweeps only ['optim.lr']"),
        ({"optim.lrr": 0.01}, "not a declared knob"),
        ({}, "non-empty"),
        ([1, 2], "non-empty JSON object"),
    ],
)
def test_out_of_space_proposals_are_refused(changes, needle: str) -> None:
    space = SPACES["digits"]
    with pytest.raises(ProposalRejectedError) as info:
        space.check_changes(changes, space.phase("lr"))
    assert needle in str(info.value)


def test_choice_and_int_knobs_are_type_strict() -> None:
    space = SPACES["digits"]
    batch, warmup = space.phase("batch"), space.phase("warmup")
    space.check_changes({"train.batch_size": 32}, batch)
    with pytest.raises(ProposalRejectedError, match="not one of"):
        space.check_changes({"train.batch_size": 32.0}, batch)
    with pytest.raises(ProposalRejectedError, match="must be an integer"):
        space.check_changes({"optim.warmup_steps": True}, warmup)
