"""Validators judge a posted round again from chain events and content alone, and a dishonest
post is overturned by their vote: the coordinator loses its stake, the honest contributor is paid.

Round 0 is merged by the honest coordinator: a validator recomputes it and gets the very report
(same CID). Round 1's coordinator credits the whole budget to a Sybil that never took part; the
validator's recomputation disagrees, a challenger disputes the round, the validator votes for its
result, and the dispute replaces the round's credits with the validator's: the honest contributor
claims its reward by the validator's pinned report, and the books verify.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from eth_account import Account

from magnet_market.app import Session, Sponsor, Validator
from magnet_market.app.auditor import verify_payouts
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.app.judging import judge_round
from magnet_market.app.reports import pin_report
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import DisputeOutcome, RoundPhase, TaskStatus
from magnet_market.cli import main
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests._magnet import run_magnet
from tests.chain.helpers import advance_time
from tests.diloco.test_determinism import KERNEL_PATHS, judges_this_cpu_runs
from tests.roles.test_contributor import DIGITS_SPEC
from tests.roles.test_coordinator import _client

WINDOW = 600


def _one_worker_task(market, actors, tmp_path, rounds):
    """A digits task of ``rounds`` rounds with one honest contributor joined; returns the store,
    the spec, the task id, the contributor and the coordinator."""
    store = LocalStore(tmp_path / "store")
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": WINDOW}
    market_cfg = {**DIGITS_SPEC["market"], "max_contributors": 1, "timing": timing}
    spec = parse_spec({**DIGITS_SPEC, "rounds": rounds, "market": market_cfg})
    session = Session.of_market(market.with_signer(actors.sponsor), store)
    task_id = Sponsor(session).publish(spec, actors.coordinator.address).task_id
    honest = actors.contributors[0]
    market.with_signer(honest).claim(task_id)
    worker = Contributor(Session.of_market(market.with_signer(honest), store), tmp_path / "w")
    coordinator = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "k"
    )
    return store, spec, task_id, worker, coordinator


def test_validators_recompute_rounds_and_overturn_a_sybil_credit(market, actors, tmp_path):
    store, spec, task_id, worker, coordinator = _one_worker_task(market, actors, tmp_path, 2)
    honest = actors.contributors[0]
    validator = Validator(Session.of_market(market.with_signer(actors.funder), store))
    validator.stake()
    advance_time(market, 1)  # staked strictly before any dispute opens

    worker.work_round(task_id)
    posted_0 = coordinator.merge_round(task_id)
    check_0 = validator.verify(task_id, 0)
    assert check_0.matches_posted  # the same report, byte for byte
    assert check_0.result.report_cid == posted_0.report_cid

    worker.work_round(task_id)
    budget = market.task(task_id).escrow  # the last round's budget is what is left
    honest_result = judge_round(
        coordinator.client, store, coordinator.reader, tmp_path / "j", task_id, 1, budget
    )
    sybil = Account.create().address
    sybil_tree = CreditTree.of([(sybil, budget)])
    sybil_report = pin_report(store, honest_result.report, sybil_tree)
    coordinator.stake_for(task_id)
    stake = market.task(task_id).coordinator_stake
    coordinator.post(task_id, honest_result.merged_cid, sybil_report, sybil_tree)

    check_1 = validator.verify(task_id, 1)
    assert not check_1.matches_posted
    assert check_1.result.candidate == honest_result.candidate  # the validator's own judging
    bond = spec.market.claim_bond
    market.with_signer(actors.challenger).challenge(task_id, 1, "credits a Sybil")
    validator.vote(task_id, 1, check_1.ballot)
    advance_time(market, market.rules().vote_duration)
    decided = validator.resolve(task_id, 1)
    assert decided.outcome is DisputeOutcome.OVERTURNED
    assert market.round(task_id, 1).credits_root == honest_result.credits_root
    assert market.task(task_id).coordinator_stake == 0
    share = stake // 2  # the challenger and the validator split the stake
    challenger = Validator(Session.of_market(market.with_signer(actors.challenger), store))
    assert challenger.claim_payout(task_id, 1) == bond + share
    assert validator.claim_payout(task_id, 1) == bond + share

    advance_time(market, WINDOW)
    assert market.round(task_id, 0).phase is RoundPhase.FINAL
    booked = worker.claim_rewards(task_id)
    assert booked == posted_0.total_credited + honest_result.total_credited
    market.close_task(task_id)
    assert market.task(task_id).status is TaskStatus.CLOSED
    audit = verify_payouts(market, EventReader(market), store, task_id)
    assert audit.ok, audit.as_dict()
    rewards = audit.ledger.rewards_by_account()
    assert rewards == {honest.address: booked} and sybil not in rewards


def test_the_validator_role_catches_a_sybil_round_on_its_own(
    market, actors, tmp_path, runner, monkeypatch
):
    store, _, task_id, worker, coordinator = _one_worker_task(market, actors, tmp_path, 1)
    guard = Validator(Session.of_market(_client(market, actors.funder), store), tmp_path / "v")
    guard.stake()
    advance_time(market, 1)
    worker.work_round(task_id)
    coordinator.merge_round(task_id, credit_sybil=True)

    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", market.address)
    verify = ["verify", "round", str(task_id), "0", "--json", "--store", str(tmp_path / "store")]
    result = runner.invoke(main, verify)
    assert result.exit_code == 1, result.output  # the recomputed report differs
    printed = json.loads(result.output)
    assert printed["matches_posted"] is False and printed["report_cid"]

    with ThreadPoolExecutor(1) as pool:
        guarding = pool.submit(guard.run, task_id, 0.1)
        deadline = time.monotonic() + 120
        while market.dispute(task_id, 0).votes == 0 and time.monotonic() < deadline:
            assert not guarding.done(), guarding.exception()
            time.sleep(0.1)
        assert market.stance(task_id, 0, actors.funder.address)["challenged"]
        advance_time(market, market.rules().vote_duration)  # the guard resolves and collects
        while market.dispute(task_id, 0).outcome is DisputeOutcome.OPEN:
            assert time.monotonic() < deadline and not guarding.done()
            time.sleep(0.1)
        assert market.dispute(task_id, 0).outcome is DisputeOutcome.OVERTURNED
        booked = worker.claim_rewards(task_id)  # final at once: decided, window reset
        market.close_task(task_id)
        (dispute,) = guarding.result(timeout=120)
    assert booked > 0
    assert dispute.outcome is DisputeOutcome.OVERTURNED
    assert market.stance(task_id, 0, actors.funder.address)["owed"] == 0  # collected
    audit = verify_payouts(market, EventReader(market), store, task_id)
    assert audit.ok, audit.as_dict()


def test_verify_round_gets_the_posted_report_on_every_simd_path(
    market, actors, tmp_path, monkeypatch
):
    _, _, task_id, worker, coordinator = _one_worker_task(market, actors, tmp_path, 1)
    worker.work_round(task_id)
    posted = coordinator.merge_round(task_id)  # judged in this process, on the CPU's best path
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", market.address)
    printed = []
    for capability, path, threads in judges_this_cpu_runs():
        env = {
            **os.environ,
            "ATEN_CPU_CAPABILITY": capability,
            "MAGNET_KERNEL": path,
            "OMP_NUM_THREADS": str(threads),
        }
        args = ["verify", "round", str(task_id), "0", "--json", "--store", str(tmp_path / "store")]
        done = run_magnet(args, env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        printed.append(json.loads(done.stdout))
    assert [p["kernel_path"] for p in printed] == [
        KERNEL_PATHS[path] for _, path, _ in judges_this_cpu_runs()
    ]
    assert {p["report_cid"] for p in printed} == {posted.report_cid}
    assert all(p["matches_posted"] for p in printed)
