"""What a submission publishes about its search: read defensively from a stranger's checkpoint,
listed in the report for accepted work, and the winning recipe named."""

from __future__ import annotations

import json

import pytest

from magnet_market.diloco.published import MAX_KNOBS, PublishedSearch, published_search
from tests.diloco._digits import with_search
from tests.diloco.test_round import go
from tests.diloco.test_round import setup as setup

LEDGER = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
RECIPE = {"optim.lr": 0.006, "train.batch_size": 32, "model.kind": "classifier", "x.on": True}


def _search(**fields) -> dict[str, str]:
    return {"search": json.dumps(fields)}


def test_a_well_formed_recipe_and_ledger_are_read():
    ideas = {"optim.lr": 0.006}
    got = published_search(_search(recipe=RECIPE, changes=ideas, ledger=LEDGER, experiments=3))
    assert got == PublishedSearch(RECIPE, ideas, LEDGER)
    unchanged = published_search(_search(recipe=RECIPE, changes={}, ledger=LEDGER))
    assert unchanged == PublishedSearch(RECIPE, {}, LEDGER)


@pytest.mark.parametrize("changes", [None, {"optim.lr": 0.5}, {"optim.beta1": 0.9}, [1]])
def test_changes_that_are_not_part_of_the_recipe_are_left_out(changes):
    got = published_search(_search(recipe=RECIPE, changes=changes, ledger=LEDGER))
    assert got == PublishedSearch(RECIPE, None, LEDGER)


@pytest.mark.parametrize(
    "recipe",
    [
        None,
        [],
        {},
        "optim.lr=0.006",
        {"optim.lr": float("nan")},
        {"optim.lr": [0.006]},
        {"optim.lr": {"value": 0.006}},
        {"lr": 0.006},  # not a dotted knob
        {"optim.lr\n": 0.006},
        {"optim.note": "x" * 65},
        {"optim.steps": 2**63},
        {f"optim.k{i}": 1 for i in range(MAX_KNOBS + 1)},
    ],
)
def test_a_malformed_recipe_is_left_out(recipe):
    got = published_search(_search(recipe=recipe, changes={}, ledger=LEDGER))
    assert got == PublishedSearch(None, None, LEDGER)


@pytest.mark.parametrize(
    "ledger", [None, 7, "", "short", "bafy/../../etc", "b" * 129, "bafy ok1234"]
)
def test_a_malformed_ledger_cid_is_left_out(ledger):
    got = published_search(_search(recipe=RECIPE, changes={}, ledger=ledger))
    assert got == PublishedSearch(RECIPE, {}, None)


@pytest.mark.parametrize("text", ["", "not json", "[1]", "[" * 100_000, '"search"'])
def test_unreadable_search_metadata_publishes_nothing(text):
    assert published_search({"search": text}) == PublishedSearch()
    assert published_search({}) == PublishedSearch()


def test_the_report_lists_accepted_searches_and_names_the_most_improving_recipe(setup):
    subs, tmp = setup[2], setup[3]
    published = [
        with_search(
            sub,
            tmp / f"pub{i}.safetensors",
            {"recipe": {**RECIPE, "optim.lr": 0.001 * (i + 1)}, "ledger": LEDGER},
        )
        for i, sub in enumerate(subs)
    ]
    rep = go(setup, "published.safetensors", published).report
    listed = [(s.status, s.recipe is not None, s.ledger_cid) for s in rep.submissions]
    assert listed == [("accepted", True, LEDGER)] * 3 + [
        ("dishonest", False, None),
        ("rejected", False, None),
    ]
    best = max(rep.submissions[:3], key=lambda s: s.improvement)
    assert best.improvement > 0
    assert (rep.recipe_author, rep.recipe) == (best.author, best.recipe)
    assert json.loads(rep.to_json())["recipe"] == best.recipe
