"""Where a round's search starts: the last winning recipe a pinned report names, if the task's
search could have kept it; a hostile or unreadable one is refused with the reason."""

from __future__ import annotations

import json

import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.swarm import (
    RoundStart,
    TriedLine,
    earlier_reports,
    published_ideas,
    round_start,
    shared_ledgers,
    swarm_place,
    tried,
)
from magnet_market.autoresearch import Record
from magnet_market.autoresearch.shared import MAX_LEDGER_BYTES, SharedLedger
from magnet_market.chain.events import EventReader
from magnet_market.diloco.ideas import Idea
from magnet_market.storage import LocalStore, StorageError
from magnet_market.tasks.spec import parse_spec
from tests.roles.test_contributor import DIGITS_SPEC


@pytest.fixture
def task(market, actors, tmp_path):
    """A digits task with a coordinator staked, ready to post round 0."""
    store = LocalStore(tmp_path / "store")
    spec = parse_spec({**DIGITS_SPEC, "search": {"trials": 2}})
    published = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
        spec, actors.coordinator.address
    )
    market.w3.provider.make_request("evm_increaseTime", [spec.market.timing.submit])
    market.w3.provider.make_request("evm_mine", [])
    coordinator = market.with_signer(actors.coordinator)
    coordinator.stake_coordinator(published.task_id, market.task(published.task_id).escrow)
    return spec, published, store, coordinator


def _post_round0(task, report: dict | None) -> RoundStart:
    """Post round 0 with ``report`` pinned (None: pinned in another store, so a CID this store
    cannot fetch), and ask where round 1 starts."""
    spec, published, store, coordinator = task
    document = json.dumps({"report": report or {}, "credits": None}).encode()
    elsewhere = LocalStore(store.root.parent / "elsewhere")
    cid = str((store if report is not None else elsewhere).add_bytes(document))
    coordinator.post_round(published.task_id, published.base_cid, cid, bytes(32), 0)
    return round_start(spec, earlier_reports(store, EventReader(coordinator), published.task_id, 1))


def test_round_zero_starts_from_the_spec(task):
    spec, published, store, coordinator = task
    start = round_start(
        spec, earlier_reports(store, EventReader(coordinator), published.task_id, 0)
    )
    assert start == RoundStart(None, "spec")


def test_the_next_round_starts_from_the_winning_recipe(task, actors):
    spec = task[0]
    recipe = {**spec.default_recipe(), "optim.lr": 0.006}
    author = actors.contributors[0].address
    start = _post_round0(task, {"recipe": recipe, "recipe_author": author})
    assert start == RoundStart(recipe, f"round 0's winner {author}")


def test_a_round_without_a_winner_starts_from_the_spec(task):
    assert _post_round0(task, {"recipe": None}) == RoundStart(None, "spec")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"optim.lr": 3.0}, "optim.lr: 3.0 is outside"),
        ({"model.hidden": 4096}, "model.hidden is 4096, the task fixes"),
        ({"train.augment": 2.0}, "train.augment: 2.0 is outside"),
        ({"optim.evil": 1}, "its keys are not this task's"),
    ],
)
def test_a_hostile_winning_recipe_is_refused_with_the_reason(task, actors, change, reason):
    spec = task[0]
    start = _post_round0(
        task, {"recipe": {**spec.default_recipe(), **change}, "recipe_author": "0xabc"}
    )
    assert (start.config, start.source) == (None, "spec")
    assert start.refused.startswith("refused round 0's winner 0xabc's recipe") and reason in (
        start.refused
    )


def test_an_unreadable_report_starts_from_the_spec_and_says_why(task):
    start = _post_round0(task, None)
    assert (start.config, start.source) == (None, "spec")
    assert start.refused.startswith("round 0's report is unreadable")


def _accepted(author: str, improvement: float, ideas: dict, ledger: str | None = None) -> dict:
    return {
        "author": author,
        "status": "accepted",
        "improvement": improvement,
        "recipe_changes": ideas,
        "ledger_cid": ledger,
    }


def test_later_places_start_from_the_winner_with_another_s_idea_or_from_its_recipe(task, market):
    spec, published, store, coordinator = task
    winner = {**spec.default_recipe(), "optim.lr": 0.006}
    report = {
        "recipe": winner,
        "recipe_author": "0xa",
        "submissions": [
            _accepted("0xa", 0.03, {"optim.lr": 0.006}),
            {
                **_accepted("0xb", 0.02, {"optim.warmup_steps": 40}),
                "recipe": {**spec.default_recipe(), "optim.warmup_steps": 40},
            },
            _accepted("0xc", 0.01, {"optim.lr": 5.0}),  # not a recipe this task could keep
            _accepted("0xd", -0.01, {"train.batch_size": 16}),  # it did not help
            _accepted("0xf", 0.01, {"train.batch_size": 32}),  # no change to the winner
            _accepted("0xe", 0.01, {"train.batch_size": 64}),
        ],
    }
    _post_round0(task, report)
    reader = EventReader(coordinator)
    reports = earlier_reports(store, reader, published.task_id, 1)
    starts = [round_start(spec, reports, place) for place in range(5)]
    assert [s.config for s in starts] == [
        winner,
        {**winner, "optim.warmup_steps": 40},
        {**winner, "train.batch_size": 64},
        {**spec.default_recipe(), "optim.warmup_steps": 40},  # then the others' own recipes
        winner,  # more places than starts: round again
    ]
    assert starts[1].source == "round 0's winner 0xa with 0xb's optim.warmup_steps=40"
    assert starts[3].source == "the recipe of round 0's 0xb"


def test_shared_ledgers_are_fetched_by_cid_capped_and_read_row_by_row(task, tmp_path):
    spec, published, store, coordinator = task
    good = {
        "id": 0,
        "parent": None,
        "phase": "baseline",
        "status": "keep",
        "description": "default",
        "config": spec.default_recipe(),
        "metric": 0.5,
        "runs": [0.5, 0.5],
    }
    ledger = (json.dumps(good) + "\nnot json\n").encode()
    huge = b"{}\n" * (MAX_LEDGER_BYTES // 3 + 1)
    missing = LocalStore(tmp_path / "elsewhere").add_bytes(b"never here")
    cids = [store.add_bytes(ledger), store.add_bytes(huge), missing]
    report = {
        "parent_cid": published.base_cid,
        "submissions": [_accepted(f"0x{i}", 0.01, {}, str(cid)) for i, cid in enumerate(cids)]
        + [{"author": "0xr", "status": "rejected", "ledger_cid": str(cids[0])}],
    }
    _post_round0(task, report)
    reports = earlier_reports(store, EventReader(coordinator), published.task_id, 1)
    shared = shared_ledgers(store, spec, reports, published.base_cid)
    assert [(s.source, len(s.records), s.same_parent) for s in shared] == [
        ("0x0 in round 0", 1, True),
        ("0x1 in round 0", 0, False),
        ("0x2 in round 0", 0, False),
    ]
    assert shared[0].refused == ("row 2: not JSON",)
    assert shared[1].refused == (
        f"ledger {cids[1]}: over the {MAX_LEDGER_BYTES}-byte cap of a ledger",
    )
    assert shared[2].refused[0].startswith(f"ledger {missing}: ")
    other_parent = shared_ledgers(store, spec, reports, "bafyanother")
    assert not other_parent[0].same_parent


def test_places_follow_the_join_order(task, market, actors):
    _, published, _, coordinator = task
    people = actors.contributors[:3]
    for who in (people[2], people[0]):
        market.with_signer(who).claim(published.task_id)
    reader = EventReader(coordinator)
    places = [swarm_place(reader, published.task_id, who.address) for who in people]
    assert places == [1, 2, 0]  # people[1] never joined: it would be next


def test_published_ideas_are_the_accepted_changes_away_from_the_spec_s_recipe(task):
    spec, published, store, coordinator = task
    default = spec.default_recipe()
    report = {
        "submissions": [
            _accepted("0xa", 0.02, {"optim.lr": 0.006}),
            _accepted("0xb", 0.01, {"optim.lr": default["optim.lr"]}),  # the spec's value: none
            _accepted("0xc", 0.01, {"optim.lr": 0.006}),  # a copy: 0xa published it first
            {**_accepted("0xd", 0.01, {"optim.warmup_steps": 40}), "status": "rejected"},
            _accepted("0xe", 0.01, ["optim.lr", 0.006]),  # a hostile report's line: skipped
            _accepted("0xf", 0.01, {"optim.warmup_steps": 40}),
            _accepted("0xg", 0.0, {"train.batch_size": 64}),  # did not improve: squatting
        ],
    }
    _post_round0(task, report)
    ideas = published_ideas(store, EventReader(coordinator), spec, published.task_id, 1)
    assert ideas == [
        Idea("0xa", 0, {"optim.lr": 0.006}),
        Idea("0xf", 0, {"optim.warmup_steps": 40}),
    ]


def test_a_malformed_report_publishes_no_ideas(task):
    spec, published, store, coordinator = task
    coordinator.post_round(
        published.task_id, published.base_cid, str(store.add_bytes(b"not json")), bytes(32), 0
    )
    reader = EventReader(coordinator)
    assert published_ideas(store, reader, spec, published.task_id, 1) == []


def test_an_unfetchable_report_stops_judging(task):
    spec, published, store, coordinator = task
    _post_round0(task, None)  # pinned in another store only
    with pytest.raises(StorageError):
        published_ideas(store, EventReader(coordinator), spec, published.task_id, 1)


def test_places_past_the_reports_starts_take_the_near_misses_of_the_shared_ledgers(task):
    spec, published, store, coordinator = task
    winner = {**spec.default_recipe(), "optim.lr": 0.006}
    _post_round0(task, {"recipe": winner, "recipe_author": "0xa", "submissions": []})

    def row(id_, parent, changes, metric, status="discard"):
        return Record(
            id=id_,
            parent=parent,
            phase="p",
            status=status,
            description="",
            config={**spec.default_recipe(), **changes},
            changes=changes,
            metric=metric,
        )

    ledger = SharedLedger(
        source="0xb in round 0",
        records=(
            row(0, None, {}, 0.80, "keep"),
            row(1, 0, {"optim.warmup_steps": 40}, 0.81),  # better, within the noise: a near miss
            row(2, 0, {"optim.weight_decay": 0.2}, 0.83),  # a larger near miss: first
            row(3, 0, {"optim.beta1": 0.85}, 0.79),  # worse: not one
            row(4, 0, {"optim.lr": 5.0}, 0.9),  # outside the space: left out
        ),
    )
    reader = EventReader(coordinator)
    starts = [
        round_start(spec, earlier_reports(store, reader, published.task_id, 1), place, [ledger])
        for place in range(4)
    ]
    assert [s.config for s in starts] == [
        winner,
        {**winner, "optim.weight_decay": 0.2},
        {**winner, "optim.warmup_steps": 40},
        winner,
    ]
    assert (
        starts[1].source
        == "round 0's winner 0xa with 0xb in round 0's near miss optim.weight_decay=0.2"
    )


def test_the_dashboard_lists_a_published_ledger_s_experiments(task, tmp_path):
    store = task[2]
    rows = [
        {"phase": "baseline", "status": "keep", "changes": {}, "metric": 0.8},
        {"phase": "lr", "status": "discard", "changes": {"optim.lr": 0.006}, "metric": None},
    ]
    text = "\n".join([json.dumps(r) for r in rows] + ["not json", "[1]", '{"phase": 1}']) + "\n"
    cid = str(store.add_bytes(text.encode()))
    assert tried(store, cid) == [
        TriedLine("baseline", "no change", "keep", 0.8),
        TriedLine("lr", "optim.lr=0.006", "discard", None),
    ]
    missing = str(LocalStore(tmp_path / "other").add_bytes(b"x"))
    assert tried(store, missing).startswith(f"ledger {missing}: ")
