"""The swarm's shared memory: a stranger's published ledger read defensively, and what it
measured handed to the sampler as priors (repeats on the same parent skipped)."""

from __future__ import annotations

import dataclasses
import json
import sys

import optuna
import pytest

from magnet_market.autoresearch import Ledger, Record
from magnet_market.autoresearch.chat import ChatProposer
from magnet_market.autoresearch.proposers import CommandProposer, OptunaProposer, swarm_facts
from magnet_market.autoresearch.shared import (
    MAX_LEDGER_BYTES,
    MAX_ROWS,
    Prior,
    SharedLedger,
    prior_trials,
    read_shared_ledger,
)

from .test_proposers import BEST, SPACE, _ctx


def _row(id_: int, parent: int | None, changes: dict, metric: float, **more) -> Record:
    fields = {
        "id": id_,
        "parent": parent,
        "phase": "width",
        "status": "discard",
        "description": "",
        "config": {**BEST.config, **changes},
        "changes": changes,
        "metric": metric,
        "runs": [metric, metric],
        **more,
    }
    return Record(**fields)


def _published(tmp_path, records: list[Record], extra_lines: list[str] = ()) -> bytes:
    ledger = Ledger(tmp_path / "theirs")
    for r in records:
        ledger.append(r)
    data = ledger.jsonl.read_bytes()
    return data + "".join(line + "\n" for line in extra_lines).encode()


def test_a_published_ledger_keeps_good_rows_and_says_why_each_other_row_was_refused(tmp_path):
    good = [
        _row(0, None, {}, 0.90, phase="baseline", status="keep"),
        _row(1, 0, {"model.hidden": 64}, 0.93, status="keep"),
        _row(2, 1, {"optim.lr": 0.004}, 0.91, phase="lr"),
        _row(3, 1, {"optim.lr": 0.009}, None, phase="lr", status="crash", runs=[]),
    ]
    row = json.loads(json.dumps(dataclasses.asdict(good[2])))
    bad = [
        "not json",
        "[1, 2]",
        json.dumps({**row, "sneaky": 1}),
        json.dumps({**row, "status": "win"}),
        json.dumps(
            {**row, "config": {**row["config"], "optim.lr": 5.0}, "changes": {"optim.lr": 5.0}}
        ),
        json.dumps({**row, "metric": float("nan")}),
        json.dumps({**row, "changes": {"optim.lr": 0.001}}),
        json.dumps(
            {
                **row,
                "config": {k: v for k, v in row["config"].items() if k != "optim.lr"},
                "changes": {},
            }
        ),
        json.dumps({**row, "id": True}),
        json.dumps({**row, "runs": ["0.9"]}),
    ]
    shared = read_shared_ledger(
        _published(tmp_path, good, bad), source="0xabc in round 0", space=SPACE
    )
    assert shared.records == tuple(good)
    assert [reason.split(": ", 1) for reason in shared.refused] == [
        ["row 5", "not JSON"],
        ["row 6", "not a JSON object: [1, 2]"],
        [
            "row 7",
            "not a ledger row (Record.__init__() got an unexpected keyword argument 'sneaky')",
        ],
        ["row 8", "status 'win' is not one of ['keep', 'discard', 'crash']"],
        ["row 9", "optim.lr: 5.0 is outside [0.001, 0.01]"],
        ["row 10", "a discard row needs a finite metric, got nan"],
        ["row 11", "change 'optim.lr' is not in its configuration"],
        ["row 12", "configuration has no optim.lr"],
        ["row 13", "id True or parent 1 is not an experiment number"],
        ["row 14", "runs must be finite numbers"],
    ]


def test_a_ledger_over_the_caps_is_refused_whole_or_cut(tmp_path):
    huge = read_shared_ledger(b"x" * (MAX_LEDGER_BYTES + 1), source="s", space=SPACE)
    assert huge.records == () and huge.refused == (
        f"ledger is {MAX_LEDGER_BYTES + 1} bytes, over the {MAX_LEDGER_BYTES}-byte cap",
    )
    assert read_shared_ledger(b"\xff\xfe", source="s", space=SPACE).refused == (
        "ledger is not UTF-8 (invalid start byte)",
    )
    many = read_shared_ledger(b"{}\n" * (MAX_ROWS + 3), source="s", space=SPACE)
    assert len(many.refused) == MAX_ROWS + 1
    assert many.refused[-1] == f"rows after {MAX_ROWS} ignored (3 more)"


def test_priors_move_this_search_s_best_by_each_shared_change_s_measured_gain():
    theirs = SharedLedger(
        source="0xabc",
        records=(
            _row(0, None, {}, 0.80, phase="baseline", status="keep"),
            _row(1, 0, {"model.hidden": 64}, 0.85, status="keep"),
            _row(2, 1, {"model.hidden": 128}, 0.83),  # measured against the kept 64
            _row(3, 1, {"optim.lr": 0.004}, 0.86, phase="lr"),  # another phase's knob
            _row(4, 1, {"model.hidden": 64}, None, status="crash", runs=[]),
        ),
    )
    priors = prior_trials([theirs], SPACE.phase("width"), BEST)
    assert priors == [
        Prior(
            params={"model.hidden": 64},
            value=pytest.approx(BEST.metric + 0.05),
            same_parent=False,
            source="0xabc",
        ),
        Prior(
            params={"model.hidden": 128},
            value=pytest.approx(BEST.metric - 0.02),
            same_parent=False,
            source="0xabc",
        ),
    ]


def _tried_width(tmp_path, same_parent: bool) -> list:
    """The width phase's proposals when a shared ledger measured hidden=64 already."""
    theirs = SharedLedger(
        source="0xabc",
        records=(
            _row(0, None, {}, 0.80, phase="baseline", status="keep"),
            _row(1, 0, {"model.hidden": 64}, 0.75),
        ),
        same_parent=same_parent,
    )
    proposer = OptunaProposer(tmp_path / f"study-{same_parent}.db", "maximize", seed=0)
    ctx = dataclasses.replace(_ctx("width"), shared=(theirs,))
    proposal = proposer.propose(ctx)
    study = optuna.load_study(study_name="width", storage=proposer.url)
    shared = [t for t in study.trials if "shared" in t.user_attrs]
    assert [(t.params, t.value) for t in shared] == [
        ({"model.hidden": 64}, pytest.approx(BEST.metric - 0.05))
    ]
    return [] if proposal is None else [proposal.changes]


def test_a_configuration_measured_on_the_same_parent_is_not_run_again(tmp_path):
    assert _tried_width(tmp_path, same_parent=True) == []  # hidden=64 was its only other choice


def test_one_measured_on_an_earlier_parent_informs_but_may_run_again(tmp_path):
    assert _tried_width(tmp_path, same_parent=False) == [{"model.hidden": 64}]


def test_external_and_chat_proposers_see_the_swarm_s_results_on_the_phase():
    theirs = SharedLedger(
        source="0xabc",
        records=(
            _row(0, None, {}, 0.80, phase="baseline", status="keep"),
            _row(1, 0, {"model.hidden": 64}, 0.78),
            _row(2, 0, {"model.hidden": 128}, 0.83),
        ),
    )
    ctx = dataclasses.replace(_ctx("width"), shared=(theirs,))
    facts = swarm_facts(ctx)
    assert [(f["values"], f["metric_here"]) for f in facts] == [  # best first: maximize
        ({"model.hidden": 128}, pytest.approx(BEST.metric + 0.03)),
        ({"model.hidden": 64}, pytest.approx(BEST.metric - 0.02)),
    ]
    assert CommandProposer(sys.executable).request(ctx)["swarm"] == facts
    chat = ChatProposer("chat:http://127.0.0.1:9/v1")
    user = json.loads(chat.request(ctx)["messages"][1]["content"])
    assert user["swarm"] == json.loads(json.dumps(facts))
    assert "swarm" not in json.loads(chat.request(_ctx("width"))["messages"][1]["content"])
