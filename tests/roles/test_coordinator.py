"""A whole round on a real devnet: three contributors (honest, lying, corrupt) and a coordinator."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.auditor import verify_task
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator, CoordinatorError
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.submission import scale_metric, submit_checkpoint
from magnet_market.chain.types import RoundPhase, SlashReason
from magnet_market.storage import LocalStore, cid_of_bytes
from magnet_market.tasks.spec import parse_spec
from tests.roles.test_contributor import DIGITS_SPEC


def _client(market: MarketClient, signer) -> MarketClient:
    """A client with its own connection, for use from another thread."""
    return MarketClient(Connection(market.connection.network), market.address, signer)


def test_round_merges_credits_slashes_and_pays(market, actors, tmp_path):
    store = LocalStore(tmp_path / "store")
    market_cfg = {**DIGITS_SPEC["market"], "max_contributors": 4}
    spec = parse_spec({**DIGITS_SPEC, "inner_steps": 40, "market": market_cfg})
    task = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
        spec, actors.coordinator.address
    )
    honest, liar, corrupt, sleeper = actors.contributors[:4]
    for who in (honest, liar, corrupt, sleeper):
        market.with_signer(who).claim(task.task_id)

    def contribute(who, bias):
        c = Contributor(Session.of_market(_client(market, who), store), tmp_path / "w")
        return c.work_round(task.task_id, claim_bias=bias)

    def upload_garbage():
        cid = str(store.add_bytes(b"definitely not a safetensors checkpoint"))
        return submit_checkpoint(_client(market, corrupt), task.task_id, cid, scale_metric(0.99))

    with ThreadPoolExecutor(3) as pool:
        work_h = pool.submit(contribute, honest, 0.0)
        work_l = pool.submit(contribute, liar, 0.5)  # claims 0.5 better accuracy than it has
        garbage = pool.submit(upload_garbage)
        # The sleeper never commits: once the three did, jump to the submit deadline.
        deadline = time.monotonic() + 120
        while market.round(task.task_id, 0).commits < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        market.w3.provider.make_request("evm_increaseTime", [spec.market.timing.submit])
        market.w3.provider.make_request("evm_mine", [])
        work_h, work_l, garbage = work_h.result(), work_l.result(), garbage.result()

    coordinator = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "coord"
    )
    with pytest.raises(CoordinatorError, match="does not coordinate"):
        Coordinator(Session.of_market(market.with_signer(honest), store), tmp_path).merge_round(1)
    assert coordinator.ready(task.task_id)
    posted = coordinator.merge_round(task.task_id)
    status = {s.author: s.status for s in posted.report.submissions}
    assert status == {
        honest.address: "accepted",
        liar.address: "dishonest",
        corrupt.address: "rejected",
    }
    assert dict(posted.slashed) == {
        liar.address: SlashReason.DISHONEST_CLAIM,
        corrupt.address: SlashReason.BAD_VERIFICATION,
        sleeper.address: SlashReason.TIMEOUT,
    }
    reward = 2 * 10**18 // 2
    assert posted.total_credited == reward  # the only accepted submission earns the round
    assert market.round(task.task_id, 0).phase is RoundPhase.CHALLENGE
    info = market.task(task.task_id)
    assert info.current_round == 1
    assert info.coordinator_stake == reward // 10  # DEVNET_RULES: 10 % of the round's budget
    slashed = sum(market.submission(task.task_id, 0, w.address)["slashed_amount"]
                  for w in (liar, corrupt, sleeper))  # fmt: skip
    bond = spec.market.claim_bond
    assert slashed == bond // 2 + bond * 3 // 10 + bond // 10  # the task's rates
    assert info.slashes_pending == slashed  # held until the round is final
    assert market.round(task.task_id, 0).slashed_total == slashed
    assert posted.merged_cid != task.base_cid

    document = json.loads(store.get(posted.report_cid))
    tree = CreditTree.load(document["credits"])
    assert tree.amount(honest.address) == reward
    assert document["report"]["merged_cid"] == posted.merged_cid

    market.w3.provider.make_request("evm_increaseTime", [spec.market.timing.challenge])
    market.w3.provider.make_request("evm_mine", [])
    market.claim_reward(task.task_id, 0, honest.address, reward, tree.proof(honest.address))
    assert market.withdrawable(honest.address) == reward
    audit = verify_task(market, EventReader(market), task.task_id)
    assert audit.ok, audit.as_dict()


def test_unfetchable_submission_is_rejected_not_slashed(market, actors, tmp_path):
    store = LocalStore(tmp_path / "store")
    spec = parse_spec(DIGITS_SPEC)
    task = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
        spec, actors.coordinator.address
    )
    ghost = actors.contributors[0]
    market.with_signer(ghost).claim(task.task_id)
    missing = str(cid_of_bytes(b"never uploaded anywhere"))
    submit_checkpoint(market.with_signer(ghost), task.task_id, missing, scale_metric(0.5))
    coordinator = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "k"
    )
    posted = coordinator.merge_round(task.task_id)
    (line,) = posted.report.submissions
    assert line.status == "rejected"
    assert line.checks[0].name == "fetch" and missing in line.checks[0].reason
    assert posted.slashed == () and posted.total_credited == 0
    assert posted.merged_cid == task.base_cid  # nothing accepted: the parent carries over


class _Crash(Exception):
    """Stands for the coordinator process dying at one exact point."""


def test_a_coordinator_killed_before_posting_resumes_without_doing_anything_twice(
    market, actors, tmp_path, monkeypatch
):
    store = LocalStore(tmp_path / "store")
    spec = parse_spec(DIGITS_SPEC)
    task = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
        spec, actors.coordinator.address
    )
    liar = actors.contributors[0]
    market.with_signer(liar).claim(task.task_id)
    Contributor(Session.of_market(market.with_signer(liar), store), tmp_path / "c").work_round(
        task.task_id, claim_bias=0.5
    )
    first = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "k"
    )

    def die(*args, **kwargs):
        raise _Crash  # after staking, before postRound: the worst moment to die

    monkeypatch.setattr(first.client, "post_round", die)
    with pytest.raises(_Crash):
        first.merge_round(task.task_id)
    reader = EventReader(market)
    assert len(reader.get("CoordinatorStaked", taskId=task.task_id)) == 1
    assert reader.get("ContributorSlashed", taskId=task.task_id) == []  # they go with the post
    assert reader.get("RoundPosted", taskId=task.task_id) == []

    restarted = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "k2"
    )
    posted = restarted.merge_round(task.task_id)
    assert posted.slashed == ((liar.address, SlashReason.DISHONEST_CLAIM),)
    assert len(reader.get("CoordinatorStaked", taskId=task.task_id)) == 1  # not staked twice
    assert len(reader.get("ContributorSlashed", taskId=task.task_id)) == 1
    assert len(reader.get("RoundPosted", taskId=task.task_id)) == 1
    assert not restarted.ready(task.task_id)
    with pytest.raises(CoordinatorError, match="no round waiting"):
        restarted.merge_round(task.task_id)
