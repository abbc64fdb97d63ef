"""A sealed holdout through the market: nobody can train on it, and training on the public split
does not pay.

The sponsor packs scikit-learn's digits as a user's CSV, its holdout sealed in one slice per
round, and publishes a two-round task. An honest contributor trains on the training split; an
overfitter trains on the validation split everyone can see, so it beats the honest one there.
Round 0's key is revealed by the sponsor's role once the reveals close: the coordinator credits
on the slice, where the overfitter earns no more than the honest contributor. Round 1's key is
never revealed: the round is judged on the validation split and the sponsor's bond joins its
budget. A validator gets both posted reports byte for byte and the books verify.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from magnet_market.app import Session, Sponsor, Validator
from magnet_market.app.auditor import verify_payouts
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.app.datasets import publish_dataset
from magnet_market.app.holdout_keys import HoldoutKeysError
from magnet_market.app.sponsor import HoldoutRevealer, SponsorError
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import RoundPhase
from magnet_market.datasets import PackOptions
from magnet_market.storage import LocalStore
from magnet_market.tasks.data import task_data
from magnet_market.tasks.spec import SpecError, parse_spec
from tests.chain.helpers import advance_time

HOLDOUT_WINDOW = 300
BOND = 10**17


class Overfitter(Contributor):
    """Trains on the validation split: the one contributors search on and claim on."""

    def training_data(self, spec, dataset):
        data = task_data(spec, dataset)
        data.train_x, data.train_y = data.val_x, data.val_y
        return data


def _session(market, who, store):
    return Session.of_market(market.with_signer(who), store)


def digits_csv(path: Path) -> Path:
    """scikit-learn's bundled digits (64 pixels, 10 classes) as a user's CSV."""
    from sklearn.datasets import load_digits

    load_digits(as_frame=True).frame.to_csv(path, index=False)
    return path


def digits_task(tmp_path: Path, store: LocalStore, rounds: int = 2, split_seed: int = 0) -> dict:
    """A task spec on digits packed with a sealed holdout of two slices."""
    options = PackOptions(
        "tabular",
        label="target",
        val_fraction=0.1,
        holdout_fraction=0.3,
        holdout_slices=2,
        seed=split_seed,
    )
    dataset = publish_dataset(store, digits_csv(tmp_path / "digits.csv"), options).cid
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": 600}
    spec = {
        "name": "digits-sealed",
        "kind": "tabular",
        "dataset": dataset,
        "rounds": rounds,
        "inner_steps": 300,
        "batch_size": 32,
        "model": {"hidden": 64, "n_layers": 1},
        "search": {"trials": 0},
        "market": {
            "bounty": "1ether",
            "max_contributors": 2,
            "holdout_bond": BOND,
            "timing": timing | {"holdout": HOLDOUT_WINDOW},
        },
    }
    return spec


def work_both(market, task_id: int, honest: Contributor, overfitter: Contributor) -> None:
    """Both work the current round: the overfitter first in a thread (it waits for the other
    commitment before revealing), then the honest one, which opens the reveals."""
    round_ = market.task(task_id).current_round
    errors: list[BaseException] = []

    def overfit() -> None:
        try:
            overfitter.work_round(task_id)
        except BaseException as e:  # re-raised in the test's thread
            errors.append(e)

    thread = threading.Thread(target=overfit)
    thread.start()
    deadline = time.monotonic() + 120
    while market.submission(task_id, round_, overfitter.address)["commitment"] == bytes(32):
        assert thread.is_alive() and time.monotonic() < deadline, errors
        time.sleep(0.1)
    honest.work_round(task_id)
    thread.join(timeout=120)
    assert not errors, errors
    assert market.round(task_id, round_).phase is RoundPhase.UNSEALING


def test_training_on_the_public_split_earns_no_more_on_the_sealed_holdout(market, actors, tmp_path):
    store = LocalStore(tmp_path / "store")
    spec = digits_task(tmp_path, store)
    sponsor = Sponsor(_session(market, actors.sponsor, store))
    task = sponsor.publish(parse_spec(spec), actors.coordinator.address)
    holdout = market.holdout(task.task_id)
    assert holdout.sealed and holdout.bond_held == 2 * BOND
    a, b = actors.contributors[:2]
    honest = Contributor(_session(market, a, store), tmp_path / "honest")
    overfitter = Overfitter(_session(market, b, store), tmp_path / "overfitter")
    coordinator = Coordinator(_session(market, actors.coordinator, store), tmp_path / "k")
    keeper = HoldoutRevealer(_session(market, actors.sponsor, store), tmp_path / "s")
    keys = keeper.keys(task.task_id)
    for who in (honest, overfitter):  # both hold slots before anyone commits
        who.join(task.task_id)

    work_both(market, task.task_id, honest, overfitter)
    assert not coordinator.ready(task.task_id)  # the round waits for its key
    assert keeper.reveal_due(task.task_id, keys) == 0
    posted = coordinator.merge_round(task.task_id)
    report = posted.report
    assert report.credited_on == "holdout:0" and report.holdout_forfeit_wei == 0
    lines = {s.author: s for s in report.submissions}
    fair, cheat = lines[a.address], lines[b.address]
    assert fair.status == cheat.status == "accepted"  # an honest claim on validation both
    assert cheat.measured > fair.measured  # the overfitter wins on the split it trained on
    assert cheat.improvement > fair.improvement  # credited on validation, it would earn more
    assert cheat.holdout_improvement <= fair.holdout_improvement  # on the holdout, it does not
    assert cheat.credit_wei <= fair.credit_wei and fair.credit_wei > 0
    assert report.holdout_merged_metric is not None

    work_both(market, task.task_id, honest, overfitter)  # round 1: the sponsor stays silent
    r = market.round(task.task_id, 1)
    advance_time(market, r.reveal_deadline + HOLDOUT_WINDOW - market.market_time())
    escrow = market.task(task.task_id).escrow
    second = coordinator.merge_round(task.task_id).report
    assert second.credited_on == "val" and second.holdout_forfeit_wei == BOND
    assert second.reward_wei == escrow + BOND  # the last round: the escrow and the bond
    assert market.holdout(task.task_id).bond_held == 0

    validator = Validator(Session.of_market(market, store), tmp_path / "v")
    for round_ in (0, 1):  # anyone can re-judge: the key is on chain, the slice in the store
        assert validator.verify(task.task_id, round_).matches_posted
    advance_time(market, 600)
    market.close_task(task.task_id)
    audit = verify_payouts(market, EventReader(market), store, task.task_id)
    assert audit.ok, json.dumps(audit.as_dict(), default=str)
    assert audit.ledger.holdout.forfeited == {1: BOND} and audit.ledger.holdout.returned == BOND


def test_a_sponsor_cannot_seal_a_task_it_holds_no_keys_for_or_reuse_a_holdout(
    market, actors, tmp_path
):
    store = LocalStore(tmp_path / "store")
    spec = digits_task(tmp_path, store, rounds=3)
    sponsor = Sponsor(_session(market, actors.sponsor, store))
    with pytest.raises(SpecError, match=r"seals 2 holdout slices.*--holdout-slices 3"):
        sponsor.publish(parse_spec(spec | {"rounds": 3}))
    first = sponsor.publish(parse_spec(spec | {"rounds": 2}))
    with pytest.raises(SpecError, match=f"task {first.task_id} already sealed"):
        sponsor.publish(parse_spec(spec | {"rounds": 1}))
    terms = parse_spec(spec).market  # the raw path (a pinned spec's CID) checks the same
    with pytest.raises(SpecError, match=f"task {first.task_id} already sealed"):
        sponsor.create(first.spec_cid, 2, terms)
    elsewhere = Sponsor(_session(market, actors.funder, store), keys_home=tmp_path / "other")
    with pytest.raises(HoldoutKeysError, match="only the sponsor that packed it"):
        elsewhere.publish(parse_spec(spec | {"rounds": 1}))
    assert market.task_count() == 1  # nothing else was sent
    unsealed = Sponsor(_session(market, actors.sponsor, store))
    plain = unsealed.publish(
        parse_spec(spec | {"dataset": _plain_dataset(tmp_path, store), "rounds": 1})
    )
    keeper = HoldoutRevealer(_session(market, actors.sponsor, store), tmp_path / "s")
    with pytest.raises(SponsorError, match="no sealed holdout"):
        keeper.run(plain.task_id)


def _plain_dataset(tmp_path: Path, store: LocalStore) -> str:
    options = PackOptions("tabular", label="target", val_fraction=0.2, holdout_fraction=0.3)
    return publish_dataset(store, digits_csv(tmp_path / "plain.csv"), options).cid
