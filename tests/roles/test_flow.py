"""Two rounds of a market with every role running at once, as separate workers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import optuna
import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.auditor import verify_reports, verify_task
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.app.ledger import task_ledger
from magnet_market.app.reports import ReportError, load_round
from magnet_market.bitnet import checkpoint
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import TaskStatus
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests.roles.test_contributor import DIGITS_SPEC
from tests.roles.test_coordinator import _client


@pytest.fixture(params=["local", "ipfs-node"])
def store(request, tmp_path):
    """The embedded store, and a real IPFS daemon through its HTTP RPC."""
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return request.getfixturevalue("kubo")


def test_two_rounds_end_to_end(market, actors, tmp_path, store):
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": 0}
    market_cfg = {**DIGITS_SPEC["market"], "timing": timing}
    search = {"trials": 1}  # every contributor searches before training
    spec = parse_spec({**DIGITS_SPEC, "search": search, "market": market_cfg})
    task = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
        spec, actors.coordinator.address
    )
    people = actors.contributors[:3]
    for who in people:  # everyone holds a slot before round 0 starts being judged
        market.with_signer(who).claim(task.task_id)
    bias = {people[0].address: 0.0, people[1].address: 0.0, people[2].address: 0.4}

    def contribute(who):
        worker = Contributor(Session.of_market(_client(market, who), store), tmp_path / "c")
        return worker.run(task.task_id, claim_bias=bias[who.address], poll=0.2)

    def coordinate():
        worker = Coordinator(
            Session.of_market(_client(market, actors.coordinator), store), tmp_path / "k"
        )
        return worker.run(task.task_id, poll=0.2)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(contribute, who) for who in people]
        posted = pool.submit(coordinate).result(timeout=600)
        summaries = [f.result(timeout=600) for f in futures]

    assert [p.round for p in posted] == [0, 1]
    searches = {}
    for who, summary in zip(people, summaries, strict=True):
        for work in summary.rounds:
            searched = json.loads(checkpoint.from_bytes(store.get(work.cid)).extra["search"])
            assert searched["experiments"] == 1
            searches[work.round, who.address] = searched
    _check_published_searches(store, posted, searches, people)
    # round 1's first contributor swept the learning rate as in round 0, knowing its round-0 try
    study_db = tmp_path / "c" / "autoresearch" / f"task{task.task_id}-round1-{people[0].address}"
    lr = optuna.load_study(study_name="lr", storage=f"sqlite:///{study_db / 'study.db'}")
    shared = [t.user_attrs for t in lr.trials if "shared" in t.user_attrs]
    assert shared == [{"shared": f"{people[0].address} in round 0", "same_parent": False}]
    assert market.task(task.task_id).status is TaskStatus.CLOSED
    liar = people[2].address
    for p in posted:
        status = {s.author: s.status for s in p.report.submissions}
        assert status[liar] == "dishonest"
        assert p.total_credited > 0
    assert posted[1].report.parent_cid == posted[0].merged_cid
    round1 = load_round(store, EventReader(market), task.task_id, 1)
    assert round1.merged_cid == posted[1].merged_cid
    honest_rewards = sum(s.rewards for s in summaries[:2])
    assert honest_rewards == sum(p.total_credited for p in posted)
    assert summaries[2].rewards == 0
    for who in people:
        assert market.withdrawable(who.address) == 0
    audit = verify_task(market, EventReader(market), task.task_id)
    assert audit.ok, audit.as_dict()
    report_checks = verify_reports(store, audit.ledger)
    assert report_checks and all(c.ok for c in report_checks)
    assert sum(c.name.startswith("round 1 reward") for c in report_checks) == 2


def _check_published_searches(store, posted, searches, people):
    """Each accepted contribution's recipe and ledger are in the report (the ledger fetched by
    its CID is the search's, baseline and trial); round 1 starts from round 0's winner."""
    liar = people[2].address
    for p in posted:
        listed = {s.author: s for s in p.report.submissions}
        assert listed[liar].recipe is None and listed[liar].ledger_cid is None
        accepted = [s for s in p.report.submissions if s.status == "accepted"]
        for s in accepted:
            searched = searches[p.round, s.author]
            assert s.recipe == searched["recipe"] and s.ledger_cid == searched["ledger"]
            rows = [json.loads(line) for line in store.get(s.ledger_cid).decode().splitlines()]
            assert [r["id"] for r in rows] == [0, 1] and rows[0]["phase"] == "baseline"
        winner = max(accepted, key=lambda s: s.improvement)
        assert winner.improvement > 0
        assert (p.report.recipe_author, p.report.recipe) == (winner.author, winner.recipe)
    winner = posted[0].report.recipe_author
    for (round_, who), searched in searches.items():
        if round_ == 0:
            assert searched["started_from"] == "spec"
        elif who == people[0].address:  # the first to join starts from the winner as it is
            assert searched["started_from"] == f"round 0's winner {posted[0].report.recipe_author}"
        else:  # the others from it with the other's ideas, or from the other's recipe
            other = next(a for a in (people[0].address, people[1].address) if a != winner)
            assert (
                searched["started_from"].startswith(
                    (
                        f"round 0's winner {winner} with {other}'s",
                        f"the recipe of round 0's {other}",
                    )
                )
                or searched["started_from"] == f"round 0's winner {winner}"
            )


def test_a_report_that_does_not_match_its_root_is_refused(market, actors, tmp_path):
    store = LocalStore(tmp_path / "store")
    spec = parse_spec(DIGITS_SPEC)
    task = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
        spec, actors.coordinator.address
    )
    who = actors.contributors[0].address
    honest_tree = CreditTree.of([(who, 10**17)])
    lying_tree = CreditTree.of([(who, 10**18)])
    report = json.dumps({"report": {"credited_wei": str(10**18)}, "credits": lying_tree.dump()})
    report_cid = str(store.add_bytes(report.encode()))
    market.w3.provider.make_request("evm_increaseTime", [spec.market.timing.submit])
    market.w3.provider.make_request("evm_mine", [])
    coordinator = market.with_signer(actors.coordinator)
    coordinator.stake_coordinator(task.task_id, market.task(task.task_id).escrow)
    coordinator.post_round(task.task_id, task.base_cid, report_cid, honest_tree.root, 10**17)
    events = EventReader(market).all(taskId=task.task_id)
    with pytest.raises(ReportError, match="does not match the posted root"):
        verify_reports(store, task_ledger(task.task_id, events))
