"""A challenged round, upheld and rejected, through the roles and the CLI; then the funder's refund.

Round 0 is posted by the coordinator and challenged by a third party with `magnet round
challenge`; the owner settles it with `magnet round resolve`. The roles carry on: round 1 is
worked and posted, the coordinator closes the task only once no challenge waits, contributors
claim what the final rounds credit them (nothing from a voided round), and the sponsor takes back
what is left with `magnet task refund`. The books verify throughout.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from magnet_market.app import Session, Sponsor
from magnet_market.app.auditor import verify_reports, verify_task
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import RoundPhase, TaskStatus
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


@pytest.mark.parametrize("upheld", [True, False], ids=["upheld", "rejected"])
def test_challenged_round_then_close_and_refund(
    upheld, market, actors, tmp_path, runner, monkeypatch
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

    credited_0 = play_round()
    assert credited_0 > 0 and market.round(task_id, 0).phase is RoundPhase.CHALLENGE
    bond = spec.market.claim_bond
    escrow_before = market.task(task_id).escrow
    _cli(runner, "round", "challenge", task_id, 0, "--reason", "merge is wrong", "--yes",
         "--account", "devnet:4")  # fmt: skip
    assert market.round(task_id, 0).challenger == actors.challenger.address
    credited_1 = play_round()  # the market goes on while the owner looks into it
    advance_time(market, WINDOW + 1)
    assert market.round(task_id, 0).phase is RoundPhase.CHALLENGE  # waits for the owner
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
        verdict = "--upheld" if upheld else "--rejected"
        _cli(runner, "round", "resolve", task_id, 0, verdict, "--account", "devnet:0")
        closing.result(timeout=60)
    info = market.task(task_id)
    assert info.status is TaskStatus.CLOSED
    if upheld:
        assert market.round(task_id, 0).phase is RoundPhase.VOIDED
        assert market.withdrawable(actors.challenger.address) == bond  # bond back
        escrow_gain = credited_0  # the round's credits go back to the sponsor's escrow
    else:
        assert market.round(task_id, 0).phase is RoundPhase.FINAL
        assert market.withdrawable(actors.challenger.address) == 0
        escrow_gain = bond  # a wrong challenge pays its bond into the task
    pool = escrow_before - credited_1 + escrow_gain  # closing moved the escrow to the refunds
    assert (info.escrow, info.refund_remaining) == (0, pool)

    summaries = [w.run(task_id, poll=0.2) for w in workers]
    paid = sum(s.rewards for s in summaries)
    assert paid == credited_1 + (0 if upheld else credited_0)
    sponsor_before = market.withdrawable(actors.sponsor.address)
    _cli(runner, "task", "refund", task_id, "--account", "devnet:1")
    refunded = market.withdrawable(actors.sponsor.address) - sponsor_before
    assert refunded == pool and market.task(task_id).refund_remaining == 0

    reader = EventReader(market)
    audit = verify_task(market, reader, task_id)
    assert audit.ok, audit.as_dict()
    assert all(c.ok for c in verify_reports(store, reader, task_id))
    store_args = ["--store", tmp_path / "store"]
    _cli(runner, "payouts", "verify", task_id, *store_args)
