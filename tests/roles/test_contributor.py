"""A contributor's round on a real devnet and the embedded store: train, publish, commit, reveal."""

from __future__ import annotations

import json

import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.contributor import Contributor, ContributorError
from magnet_market.app.moments import latest_moments
from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.model import build_model
from magnet_market.chain.events import EventReader
from magnet_market.chain.submission import scale_metric
from magnet_market.storage import LocalStore, StorageError, cid_of_bytes
from magnet_market.tasks import DigitsData
from magnet_market.tasks.spec import parse_spec

DIGITS_SPEC = {
    "name": "digits-small",
    "kind": "digits",
    "rounds": 2,
    "inner_steps": 30,
    "batch_size": 32,
    "model": {"hidden": 32, "n_layers": 1},
    "search": {"trials": 0},  # tests that search say so (tests/roles/test_flow.py, below)
    "market": {"bounty": "2ether", "max_contributors": 3},
}


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def test_contributor_round_is_published_and_revealed(market, actors, store, tmp_path):
    sponsor = market.with_signer(actors.sponsor)
    spec = parse_spec({**DIGITS_SPEC, "search": {"trials": 2}})
    task = Sponsor(Session.of_market(sponsor, store)).publish(spec, actors.coordinator.address)
    reader = EventReader(market)
    alice = Contributor(
        Session.of_market(market.with_signer(actors.contributors[0]), store), tmp_path / "w"
    )
    said: list[str] = []
    work = alice.work_round(task.task_id, on_progress=said.append)
    assert (work.round, work.parent_cid) == (0, task.base_cid)
    assert work.submitted.committed_now and work.submitted.revealed_now
    ckpt = checkpoint.from_bytes(store.get(work.cid))
    assert ckpt.parent_cid == task.base_cid and ckpt.step == 30
    meta = json.loads(ckpt.extra["submission"])
    assert meta == {"task_id": 1, "round": 0, "author": actors.contributors[0].address}
    # The round's autoresearch ran from the parent and the inner steps used what it kept.
    search = json.loads(ckpt.extra["search"])
    assert search["experiments"] == 2 and "autoresearch, 2 trials" in said[0]
    ledger = (tmp_path / "w" / "autoresearch").glob("task1-round0-*/results.tsv")
    (rows,) = [path.read_text().splitlines()[1:] for path in ledger]
    assert len(rows) == 3 and rows[0].split("\t")[5] == "keep"  # baseline + 2 trials
    # Each experiment trained the round's inner steps: a recipe tuned at another length (e.g.
    # a warmup longer than the round) would not carry to the round's training.
    (run,) = (tmp_path / "w" / "autoresearch").glob("task1-round0-*/run.json")
    assert json.loads(run.read_text())["budget"] == {"seconds": None, "steps": 30}
    used_lr = json.loads(ckpt.extra["train"])["optim"]["lr"]
    assert used_lr == search["changes"].get("optim.lr", spec.default_recipe()["optim.lr"])
    base = checkpoint.from_bytes(store.get(task.base_cid))
    untrained = build_model(base.config)
    checkpoint.load_into(untrained, base)
    before = DigitsData(split_seed=0).evaluate(untrained)["balanced_accuracy"]
    assert ckpt.metrics["balanced_accuracy"] == work.metric > before + 0.05  # it learned
    (revealed,) = reader.get("SubmissionRevealed", taskId=1)
    assert revealed["args"]["cid"] == work.cid
    assert revealed["args"]["claimedMetric"] == scale_metric(work.metric)
    again = alice.work_round(task.task_id)  # a restart: nothing is sent twice
    assert again.cid == work.cid
    assert not again.submitted.committed_now and not again.submitted.revealed_now


def test_later_rounds_need_the_previous_merge(market, actors, store, tmp_path):
    sponsor = market.with_signer(actors.sponsor)
    spec = parse_spec({**DIGITS_SPEC, "market": {**DIGITS_SPEC["market"], "timing": {"submit": 1}}})
    task = Sponsor(Session.of_market(sponsor, store)).publish(spec, actors.coordinator.address)
    market.w3.provider.make_request("evm_increaseTime", [10])
    market.w3.provider.make_request("evm_mine", [])
    missing = str(cid_of_bytes(b"a merge nobody stored"))
    coordinator = market.with_signer(actors.coordinator)
    coordinator.stake_coordinator(task.task_id, market.task(task.task_id).escrow)
    coordinator.post_round(task.task_id, missing, "bafyr", bytes(32), 0)
    bob = Contributor(
        Session.of_market(market.with_signer(actors.contributors[1]), store), tmp_path
    )
    with pytest.raises(StorageError, match=missing):
        bob.work_round(task.task_id)  # round 1's parent is the posted merge, absent from the store
    with pytest.raises(ContributorError, match="signing account"):
        Contributor(
            Session.of_market(
                market.with_signer(actors.owner).__class__(market.connection, market.address), store
            ),
            tmp_path,
        )


def _moments(folder):
    return checkpoint.load(folder / "optimizer.safetensors").tensors


def test_a_contributor_carries_its_adamw_moments_into_its_next_round(
    market, actors, store, tmp_path
):
    """Round 1 trains on the moments round 0 left (AdamW's step count goes on from 30 to 60);
    round 0's are deleted once round 1's checkpoint is saved; an unreadable file is refused
    with its reason (the round then trains with a fresh optimizer)."""
    sponsor = market.with_signer(actors.sponsor)
    task = Sponsor(Session.of_market(sponsor, store)).publish(
        parse_spec(DIGITS_SPEC), actors.coordinator.address
    )
    who = actors.contributors[0]
    work = tmp_path / "w"
    alice = Contributor(Session.of_market(market.with_signer(who), store), work)
    first = alice.work_round(task.task_id)
    round0 = work / f"task1-round0-{who.address}"
    kept = _moments(round0)
    assert {k.rsplit(".", 1)[1] for k in kept} == {"step", "exp_avg", "exp_avg_sq"}
    assert {float(v) for k, v in kept.items() if k.endswith(".step")} == {30.0}
    coordinator = market.with_signer(actors.coordinator)
    coordinator.stake_coordinator(task.task_id, market.task(task.task_id).escrow)
    coordinator.post_round(task.task_id, first.cid, "bafyr", bytes(32), 0)  # round 1's parent
    said: list[str] = []
    second = alice.work_round(task.task_id, on_progress=said.append)
    assert second.round == 1 and second.parent_cid == first.cid
    assert any("training 30 steps on its AdamW moments of round 0" in line for line in said)
    carried = _moments(work / f"task1-round1-{who.address}")
    assert {float(v) for k, v in carried.items() if k.endswith(".step")} == {60.0}
    assert not (round0 / "optimizer.safetensors").exists()  # round 1's checkpoint is saved

    (round0 / "optimizer.safetensors").write_bytes(b"not a checkpoint")
    found = latest_moments(work, task.task_id, 1, who.address)
    assert found.moments is None and str(round0) in (found.refused or "")
