"""A sponsor's own data through the market: packed by CID, searched, trained, judged, paid.

The sponsor packs its files (scikit-learn's wine table written as a user's CSV; a folder of
text files) and publishes a task naming the dataset by CID; the spec is pinned with the model
shaped by the data. A contributor searches and trains on the verified shards, the coordinator
judges the round on the validation split, a validator gets the same report, and the books
verify.
"""

from __future__ import annotations

import json
from pathlib import Path

from magnet_market.app import Session, Sponsor, Validator
from magnet_market.app.auditor import verify_payouts
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.app.datasets import publish_dataset
from magnet_market.chain.events import EventReader
from magnet_market.cli import main
from magnet_market.datasets import PackOptions
from magnet_market.storage import LocalStore, cid_of_path
from magnet_market.tasks.series_dataset import WINDOW as SERIES_WINDOW
from magnet_market.tasks.spec import parse_spec, spec_from_bytes
from tests.chain.helpers import advance_time
from tests.roles.test_contributor import DIGITS_SPEC
from tests.tasks.test_series_dataset import co2_csv
from tests.tasks.test_tabular import wine_csv
from tests.tasks.test_text import text_corpus

WINDOW = 600


def publish_and_run_a_round(market, actors, tmp_path, store, spec):
    """Publish ``spec``, have one contributor work its round 0 and the coordinator post it; a
    validator re-judges it; after the window the contributor is paid and the books verify.
    Returns the pinned spec and the posted round."""
    sponsor = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store))
    task = sponsor.publish(spec, actors.coordinator.address)
    worker = actors.contributors[0]
    market.with_signer(worker).claim(task.task_id)
    contributor = Contributor(Session.of_market(market.with_signer(worker), store), tmp_path / "w")
    contributor.work_round(task.task_id)
    coordinator = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "k"
    )
    posted = coordinator.merge_round(task.task_id)
    validator = Validator(Session.of_market(market, store), tmp_path / "v")
    assert validator.verify(task.task_id, 0).matches_posted  # the same report, byte for byte
    advance_time(market, WINDOW)
    assert contributor.claim_rewards(task.task_id) == posted.total_credited > 0
    market.close_task(task.task_id)
    audit = verify_payouts(market, EventReader(market), store, task.task_id)
    assert audit.ok, json.dumps(audit.as_dict(), default=str)
    return spec_from_bytes(store.get(task.spec_cid)), posted


def market_terms() -> dict:
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": WINDOW}
    return {"bounty": "1ether", "max_contributors": 1, "timing": timing}


def spec_on(dataset: str, kind: str, **fields):
    """A one-round task of ``kind`` on ``dataset``, one contributor, devnet windows."""
    return parse_spec(
        {"name": kind, "kind": kind, "dataset": dataset, "rounds": 1, "market": market_terms()}
        | fields
    )


def serve_rows(runner, market, tmp_path, posted, dataset: str, rows: Path) -> list[dict]:
    """`magnet task model --packed`, then `magnet infer --rows --dataset --json` on it."""
    store = ["--store", str(tmp_path / "store")]
    packed = tmp_path / "packed.safetensors"
    args = ["task", "model", str(posted.task_id), "-o", str(packed), "--packed", *store]
    assert runner.invoke(main, args, env={"MAGNET_MARKET_ADDRESS": market.address}).exit_code == 0
    args = ["infer", str(packed), "--rows", str(rows), "--dataset", dataset, "--json", *store]
    served = runner.invoke(main, args)
    assert served.exit_code == 0, served.output
    return json.loads(served.stdout)


def test_a_tabular_task_runs_a_round_on_the_sponsors_data(market, actors, tmp_path, runner):
    store = LocalStore(tmp_path / "store")
    options = PackOptions("tabular", label="target", val_fraction=0.2, holdout_fraction=0.1)
    dataset = publish_dataset(store, wine_csv(tmp_path / "wine.csv"), options).cid
    spec = spec_on(
        dataset,
        "tabular",
        inner_steps=40,
        batch_size=32,
        model={"hidden": 32, "n_layers": 1},
        search={"trials": 1},
    )
    pinned, posted = publish_and_run_a_round(market, actors, tmp_path, store, spec)
    assert pinned.dataset == dataset and pinned.model["n_features"] == 13
    assert pinned.model["n_classes"] == 3  # filled in from the dataset's manifest
    (line,) = posted.report.submissions
    assert posted.report.metric == "balanced_accuracy" and line.status == "accepted"
    assert line.measured > max(posted.report.parent_metric, 0.5)  # the training helped

    rows = tmp_path / "rows.csv"  # a user's rows (their label column is not read)
    rows.write_text("\n".join((tmp_path / "wine.csv").read_text().splitlines()[:6]) + "\n")
    lines = serve_rows(runner, market, tmp_path, posted, dataset, rows)
    assert [line["row"] for line in lines] == [1, 2, 3, 4, 5]
    for line in lines:
        shares = line["probabilities"]
        assert set(shares) == {"barbera", "barolo", "grignolino"} and line["class"] in shares
        assert abs(sum(shares.values()) - 1) < 1e-5 and shares[line["class"]] == max(
            shares.values()
        )


def test_a_text_task_runs_a_round_on_the_sponsors_text(
    market, actors, tmp_path, runner, monkeypatch
):
    store = LocalStore(tmp_path / "store")
    options = PackOptions("text", val_fraction=0.2, holdout_fraction=0.1)
    dataset = publish_dataset(store, text_corpus(tmp_path / "corpus"), options).cid
    spec = spec_on(
        dataset,
        "text",
        inner_steps=30,
        batch_size=16,
        model={"seq_len": 32, "d_model": 32, "n_layers": 1, "n_heads": 2},
        search={"trials": 1},
    )
    pinned, posted = publish_and_run_a_round(market, actors, tmp_path, store, spec)
    assert pinned.dataset == dataset and pinned.kind == "text"
    (line,) = posted.report.submissions
    assert posted.report.metric == "val_loss" and line.status == "accepted"
    assert line.measured < posted.report.parent_metric - 0.5  # the training helped

    # the task's product: its newest model, fetched by the CID on chain, then served
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", market.address)
    store_args = ["--store", str(tmp_path / "store")]
    out = tmp_path / "model.safetensors"
    args = ["task", "model", str(posted.task_id), "-o", str(out), "--json", *store_args]
    fetched = runner.invoke(main, args)
    assert fetched.exit_code == 0, fetched.output
    shown = json.loads(fetched.stdout)
    assert shown["cid"] == posted.merged_cid and shown["final"] and shown["kind"] == "train"
    assert str(cid_of_path(out)) == posted.merged_cid  # the very bytes posted
    packed = tmp_path / "packed.safetensors"
    args = ["task", "model", str(posted.task_id), "-o", str(packed), "--packed", *store_args]
    assert runner.invoke(main, args).exit_code == 0
    served = runner.invoke(main, ["infer", str(packed), "--prompt", "The miner ", "-n", "20"])
    assert served.exit_code == 0, served.output
    assert served.stdout.startswith("The miner ") and len(served.stdout.strip()) > 12


def test_a_series_task_runs_a_round_on_the_sponsors_series(market, actors, tmp_path, runner):
    store = LocalStore(tmp_path / "store")
    options = PackOptions("series", time="date")
    dataset = publish_dataset(store, co2_csv(tmp_path / "co2.csv"), options).cid
    spec = spec_on(
        dataset,
        "series",
        inner_steps=120,
        batch_size=64,
        model={"hidden": 32, "n_layers": 1},
        search={"trials": 0},
    )
    pinned, posted = publish_and_run_a_round(market, actors, tmp_path, store, spec)
    assert pinned.model["n_features"] == 2 * SERIES_WINDOW and pinned.model["n_classes"] == 2
    (line,) = posted.report.submissions
    assert posted.report.metric == "hit_rate" and line.status == "accepted"
    assert line.measured > 0.6  # up or down, called better than a coin

    recent = tmp_path / "recent.csv"  # the series' last rows, oldest first
    lines = (tmp_path / "co2.csv").read_text().splitlines()
    recent.write_text("\n".join([lines[0], *lines[-(SERIES_WINDOW + 1) :]]) + "\n")
    (call,) = serve_rows(runner, market, tmp_path, posted, dataset, recent)
    assert call["class"] in ("down", "up") and set(call["probabilities"]) == {"down", "up"}


def test_a_task_with_no_posted_round_has_no_model_yet(
    market, actors, tmp_path, runner, monkeypatch
):
    store = LocalStore(tmp_path / "store")
    spec = parse_spec({**DIGITS_SPEC, "market": market_terms()})
    sponsor = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store))
    task = sponsor.publish(spec, actors.coordinator.address)
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", market.address)
    out = tmp_path / "model.safetensors"
    args = ["task", "model", str(task.task_id), "-o", str(out), "--store", str(tmp_path / "store")]
    refused = runner.invoke(main, args)
    assert refused.exit_code == 1
    assert f"task {task.task_id} has posted no round yet" in refused.output
    assert not out.exists()
