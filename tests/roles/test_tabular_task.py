"""A sponsor's own table through the market: packed by CID, searched, trained, judged, paid.

The sponsor packs a CSV (scikit-learn's wine table, written as a user's file) and publishes a
tabular task naming the dataset by CID; the spec is pinned with the model shaped by the data.
A contributor searches and trains on the verified shards, the coordinator judges the round on
the validation split, a validator gets the same report, and the books verify.
"""

from __future__ import annotations

import json

from magnet_market.app import Session, Sponsor, Validator
from magnet_market.app.auditor import verify_payouts
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.app.datasets import publish_dataset
from magnet_market.chain.events import EventReader
from magnet_market.datasets import PackOptions
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec, spec_from_bytes
from tests.chain.helpers import advance_time
from tests.tasks.test_tabular import wine_csv

WINDOW = 600


def test_a_tabular_task_runs_a_round_on_the_sponsors_data(market, actors, tmp_path):
    store = LocalStore(tmp_path / "store")
    options = PackOptions("tabular", label="target", val_fraction=0.2, holdout_fraction=0.1)
    dataset = publish_dataset(store, wine_csv(tmp_path / "wine.csv"), options).cid
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": WINDOW}
    spec = parse_spec(
        {
            "name": "wine",
            "kind": "tabular",
            "dataset": dataset,
            "rounds": 1,
            "inner_steps": 40,
            "batch_size": 32,
            "model": {"hidden": 32, "n_layers": 1},
            "search": {"trials": 1},
            "market": {"bounty": "1ether", "max_contributors": 1, "timing": timing},
        }
    )
    sponsor = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store))
    task = sponsor.publish(spec, actors.coordinator.address)
    pinned = spec_from_bytes(store.get(task.spec_cid))
    assert pinned.dataset == dataset and pinned.model["n_features"] == 13
    assert pinned.model["n_classes"] == 3  # filled in from the dataset's manifest

    worker = actors.contributors[0]
    market.with_signer(worker).claim(task.task_id)
    contributor = Contributor(Session.of_market(market.with_signer(worker), store), tmp_path / "w")
    work = contributor.work_round(task.task_id)
    assert work.metric > 0.5  # balanced accuracy on the validation split, as claimed
    coordinator = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "k"
    )
    posted = coordinator.merge_round(task.task_id)
    (line,) = posted.report.submissions
    assert posted.report.metric == "balanced_accuracy" and line.status == "accepted"
    assert line.measured > posted.report.parent_metric  # the training helped
    validator = Validator(Session.of_market(market, store), tmp_path / "v")
    assert validator.verify(task.task_id, 0).matches_posted  # the same report, byte for byte

    advance_time(market, WINDOW)
    assert contributor.claim_rewards(task.task_id) == posted.total_credited > 0
    market.close_task(task.task_id)
    audit = verify_payouts(market, EventReader(market), store, task.task_id)
    assert audit.ok, json.dumps(audit.as_dict(), default=str)
