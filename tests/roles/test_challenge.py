"""A challenged round decided by the validators' vote, through the roles and the CLI; then refunds.

Round 0 is posted by the coordinator and challenged by a third party with `magnet round
challenge`. Either a validator recomputes it, agrees with the posted result and votes for it
(the challenger loses its bond to the validator), or nobody votes (no quorum: the round is voided,
its credits go back to the escrow and every bond comes back). The roles carry on: round 1 is
worked and posted, the coordinator closes the task only once the dispute is decided, contributors
claim what the final rounds credit them, the sponsor takes back what is left with `magnet task
refund`, and the books verify throughout.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from magnet_market.app import Session, Sponsor, Validator
from magnet_market.app.auditor import verify_payouts
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import DisputeOutcome, RoundPhase, TaskStatus
from magnet_market.cli import main
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests.chain.helpers import advance_time
from tests.roles.test_contributor import DIGITS_SPEC
from tests.roles.test_coordinator import _client

WINDOW = 600  # the challenge window, passed by moving the devnet clock


def _cli(runner, *args: object) -> None:
    result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("outcome", [DisputeOutcome.POSTED_HELD, DisputeOutcome.NO_QUORUM])
def test_challenged_round_then_close_and_refund(
    outcome, market, actors, tmp_path, runner, monkeypatch
):
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", market.address)
    store = LocalStore(tmp_path / "store")
    timing = {"submit": 600, "reveal": 600, "merge": 600, "challenge": WINDOW}
    market_cfg = {**DIGITS_SPEC["market"], "max_contributors": 2, "timing": timing}
    spec = parse_spec({**DIGITS_SPEC, "market": market_cfg})
    task = Sponsor(Session.of_market(market.with_signer(actors.sponsor), store)).publish(
        spec, actors.coordinator.address
    )
    task_id = task.task_id
    people = actors.contributors[:2]
    for who in people:
        market.with_signer(who).claim(task_id)
    workers = [
        Contributor(Session.of_market(_client(market, who), store), tmp_path / "c")
        for who in people
    ]
    coordinator = Coordinator(
        Session.of_market(market.with_signer(actors.coordinator), store), tmp_path / "k"
    )

    def play_round() -> int:
        with ThreadPoolExecutor(2) as pool:  # reveals open once both committed
            for done in [pool.submit(w.work_round, task_id) for w in workers]:
                done.result(timeout=300)
        return coordinator.merge_round(task_id).total_credited

    validator = Validator(Session.of_market(market.with_signer(actors.funder), store))
    validator.stake()  # on the panel before the dispute opens
    advance_time(market, 1)
    credited_0 = play_round()
    assert credited_0 > 0 and market.round(task_id, 0).phase is RoundPhase.CHALLENGE
    bond = spec.market.claim_bond
    escrow_before = market.task(task_id).escrow
    _cli(runner, "round", "challenge", task_id, 0, "--reason", "merge is wrong", "--yes",
         "--account", "devnet:4")  # fmt: skip
    assert market.stance(task_id, 0, actors.challenger.address)["challenged"]
    if outcome is DisputeOutcome.POSTED_HELD:  # it recomputed the round and got the same
        validator.vote(task_id, 0, validator.posted_ballot(task_id, 0))
    credited_1 = play_round()  # the market goes on while the validators look into it
    advance_time(market, WINDOW + 1)
    assert market.round(task_id, 0).phase is RoundPhase.CHALLENGE  # waits for a decision
    verdicts: list[bool] = []  # each time the coordinator asks whether it may close
    settled = coordinator._settled

    def recorded(task: int, rounds: int) -> bool:
        verdicts.append(settled(task, rounds))
        return verdicts[-1]

    coordinator._settled = recorded
    with ThreadPoolExecutor(1) as pool:  # the coordinator must not close over an open challenge
        closing = pool.submit(coordinator.run, task_id, 0.2)
        deadline = time.monotonic() + 60
        while verdicts.count(False) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert verdicts.count(False) >= 2, "the coordinator never checked whether to close"
        assert not closing.done() and market.task(task_id).status is TaskStatus.OPEN
        decided = Validator(Session.of_market(market.with_signer(actors.owner), store))
        assert decided.resolve(task_id, 0).outcome is outcome  # anyone may decide it
        closing.result(timeout=60)
    info = market.task(task_id)
    assert info.status is TaskStatus.CLOSED
    challenger = Validator(Session.of_market(market.with_signer(actors.challenger), store))
    if outcome is DisputeOutcome.NO_QUORUM:
        assert market.round(task_id, 0).phase is RoundPhase.VOIDED
        assert challenger.claim_payout(task_id, 0) == bond  # every bond comes back
        escrow_gain = credited_0  # the round's credits go back to the funders' escrow
    else:
        assert market.round(task_id, 0).phase is RoundPhase.FINAL
        assert challenger.claim_payout(task_id, 0) == 0
        assert validator.claim_payout(task_id, 0) == 2 * bond  # its bond and the challenger's
        escrow_gain = 0
    pool = escrow_before - credited_1 + escrow_gain  # closing moved the escrow to the refunds
    assert (info.escrow, info.refund_remaining) == (0, pool)

    summaries = [w.run(task_id, poll=0.2) for w in workers]
    paid = sum(s.rewards for s in summaries)
    assert paid == credited_1 + (credited_0 if outcome is DisputeOutcome.POSTED_HELD else 0)
    sponsor_before = market.withdrawable(actors.sponsor.address)
    _cli(runner, "task", "refund", task_id, "--account", "devnet:1")
    refunded = market.withdrawable(actors.sponsor.address) - sponsor_before
    assert refunded == pool and market.task(task_id).refund_remaining == 0

    audit = verify_payouts(market, EventReader(market), store, task_id)
    assert audit.ok, audit.as_dict()
    assert market.task(task_id).coordinator_stake == 0  # the coordinator took its stake back
    store_args = ["--store", tmp_path / "store"]
    _cli(runner, "payouts", "verify", task_id, *store_args)
