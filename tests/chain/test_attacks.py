"""The security review's attacks, played by the attacker on a real anvil: each must now fail."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account.signers.local import LocalAccount

from magnet_market.app.auditor import verify_task
from magnet_market.chain import errors
from magnet_market.chain.artifacts import load_artifact
from magnet_market.chain.client import MarketClient
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import (
    DisputeOutcome,
    Floors,
    RoundPhase,
    SlashReason,
    TaskStatus,
    Timing,
)
from tests.chain.helpers import (
    ETHER,
    TIMING,
    advance_time,
    create_task,
    post,
    reveal,
    run_round,
    stake_validators,
    submit,
    validators,
)

ZERO_COMMITMENT = bytes(32)
#: Challenge windows shorter than the submit phase, so funding fits between two rounds.
FUNDABLE = Timing(submit=1200, reveal=600, merge=600, challenge=600)
PUBLIC = Floors()
AT_FLOOR = Timing(PUBLIC.submit, PUBLIC.reveal, PUBLIC.merge, PUBLIC.challenge)
FLOOR = {
    "submitDuration": PUBLIC.submit,
    "revealDuration": PUBLIC.reveal,
    "mergeDuration": PUBLIC.merge,
    "challengeDuration": PUBLIC.challenge,
    "claimBond": PUBLIC.claim_bond,
}


@pytest.fixture
def public_market(connection, actors) -> MarketClient:
    """A fresh market with the public defaults' floors, client signing as the owner."""
    deployment = deploy_market(connection, actors.owner, save=False, floors=PUBLIC)
    return MarketClient(connection, deployment.address, actors.owner)


def _withdraw_all(market: MarketClient, who: LocalAccount) -> int:
    """Withdraw ``who``'s balance; returns the wei that reached its account, net of gas."""
    before = market.w3.eth.get_balance(who.address)
    receipt = market.with_signer(who).withdraw()
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    return market.w3.eth.get_balance(who.address) - before + fee


def _at_floor_but(parameter: str, value: int) -> tuple[Timing, int]:
    """(timing, claim bond) of a task at every public floor except ``parameter`` = ``value``."""
    if parameter == "claimBond":
        return AT_FLOOR, value
    return replace(AT_FLOOR, **{parameter.removesuffix("Duration"): value}), PUBLIC.claim_bond


# ───────────────────────────────────────── 1. zero commitments


def test_zero_commitments_cannot_open_reveals_early_and_lock_out_the_honest(market, actors):
    """Attack 1: n-1 contributors send zero commitments (one twice) until the count reaches n,
    so reveals open early and the honest contributor's commit reverts RoundWrongPhase."""
    *attackers, honest = actors.contributors[:4]
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=1, max_contributors=4)
    for who in (*attackers, honest):
        market.with_signer(who).claim(task_id)
    for who in (*attackers, attackers[0]):  # four zero commitments: one per slot before the fix
        with pytest.raises(errors.SubmissionZeroCommitment) as e:
            market.with_signer(who).commit(task_id, ZERO_COMMITMENT)
        assert e.value.fields == {"taskId": task_id, "round": 0, "contributor": who.address}
        assert market.round(task_id, 0).commits == 0
    assert market.round(task_id, 0).phase is RoundPhase.SUBMITTING

    salt = submit(market, task_id, honest, "bafyhonest", 1)
    with pytest.raises(errors.SubmissionZeroCommitment):
        market.with_signer(attackers[1]).commit(task_id, ZERO_COMMITMENT)
    r0 = market.round(task_id, 0)
    assert (r0.commits, r0.phase) == (1, RoundPhase.SUBMITTING)  # 1 of 4: reveals wait
    advance_time(market, TIMING.submit)
    reveal(market, task_id, honest, "bafyhonest", 1, salt)
    r0 = market.round(task_id, 0)
    assert (r0.commits, r0.reveals, r0.phase) == (1, 1, RoundPhase.MERGING)
    assert all(
        market.submission(task_id, 0, who.address)["commitment"] == ZERO_COMMITMENT
        for who in attackers
    )


# ───────────────────────────────────────── 2. floors


def test_tasks_below_the_market_floors_are_refused(public_market, actors):
    """Attack 2: a sponsor waives the challenge window (rounds final at once) or the claim bond
    (free Sybil slots and free challenges) when it creates a task."""
    market = public_market
    assert market.floors() == PUBLIC
    sponsor = market.with_signer(actors.sponsor)

    def create(timing: Timing, bond: int) -> int:
        coordinator = actors.coordinator.address
        return sponsor.create_task("bafkreispec", coordinator, 1, ETHER, bond, 5, timing)[0]

    below = [
        ("challengeDuration", 0),
        ("challengeDuration", PUBLIC.challenge - 1),
        ("claimBond", 0),
        ("claimBond", PUBLIC.claim_bond - 1),
        ("submitDuration", PUBLIC.submit - 1),
        ("revealDuration", PUBLIC.reveal - 1),
        ("mergeDuration", PUBLIC.merge - 1),
    ]
    for parameter, value in below:
        with pytest.raises(errors.TaskBelowFloor) as e:
            create(*_at_floor_but(parameter, value))
        assert e.value.fields == {"parameter": parameter, "value": value, "floor": FLOOR[parameter]}
    assert market.task_count() == 0

    task_id = create(AT_FLOOR, PUBLIC.claim_bond)  # exactly at every floor: accepted
    task = market.task(task_id)
    assert (task.timing, task.claim_bond) == (AT_FLOOR, PUBLIC.claim_bond)
    sybil, honest = actors.contributors[:2]
    with pytest.raises(errors.ClaimWrongBond):  # a slot is never free
        market.with_signer(sybil).claim(task_id, bond=0)
    tree = run_round(market, actors, task_id, [(honest, ETHER // 2)])
    assert market.round(task_id, 0).phase is RoundPhase.CHALLENGE  # not final at once
    with pytest.raises(errors.RoundWrongPhase):
        market.claim_reward(task_id, 0, honest.address, ETHER // 2, tree.proof(honest.address))
    with pytest.raises(errors.DisputeWrongBond):  # a challenge is never free either
        market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence", bond=0)


# ───────────────────────────────────────── 3. escrow shares


def test_late_cofunder_refund_is_its_share_of_what_was_left(market, actors):
    """Attack 3: refunds split by all-time funding make a late co-funder pay for a round run
    before it funded, and the sponsor keeps the difference."""
    a, b = actors.contributors[:2]
    bounty, late = 9 * ETHER, 3 * ETHER
    task_id = create_task(
        market, actors.sponsor, actors.coordinator, rounds=3, bounty=bounty, timing=FUNDABLE
    )
    spent_before = 2 * ETHER
    run_round(market, actors, task_id, [(a, spent_before)])
    advance_time(market, FUNDABLE.challenge)  # round 0 is final: the escrow's value is settled
    market.with_signer(actors.funder).fund(task_id, late)
    spent_after = ETHER + ETHER // 2
    run_round(market, actors, task_id, [(a, ETHER), (b, ETHER // 2)])
    advance_time(market, TIMING.challenge)
    market.with_signer(actors.sponsor).close_task(task_id)  # cancels round 2: nobody committed

    left_when_funded = bounty - spent_before
    pool = left_when_funded + late - spent_after
    assert market.task(task_id).refund_remaining == pool
    market.with_signer(actors.funder).claim_refund(task_id)
    market.with_signer(actors.sponsor).claim_refund(task_id)
    refund = market.withdrawable(actors.funder.address)
    # 3/10 of the 8.5 ether left, 2.55 ether (all-time funding gave it 3/12: 2.125 ether).
    assert abs(refund - pool * late // (left_when_funded + late)) <= 2
    assert market.withdrawable(actors.sponsor.address) == pool - refund
    assert market.task(task_id).refund_remaining == 0
    with pytest.raises(errors.NothingToPay):
        market.with_signer(actors.funder).claim_refund(task_id)
    assert _withdraw_all(market, actors.funder) == refund


def test_outsider_buys_no_part_of_slashed_bonds(market, actors):
    """Attack 3: an outsider funds a task whose escrow holds slashed bonds, closes it once every
    round is posted, and walks away with part of the bonds."""
    liar, sleeper = actors.contributors[:2]
    early, late = actors.funder, actors.challenger
    bounty, funding = 10 * ETHER, 10 * ETHER
    task_id = create_task(
        market, actors.sponsor, actors.coordinator, rounds=2, bounty=bounty, timing=FUNDABLE
    )
    for who in (liar, sleeper):
        market.with_signer(who).claim(task_id)
    salt = submit(market, task_id, liar, "bafyliar", 10**18)
    advance_time(market, FUNDABLE.submit)
    reveal(market, task_id, liar, "bafyliar", 10**18, salt)
    slashes = [(sleeper, SlashReason.TIMEOUT), (liar, SlashReason.DISHONEST_CLAIM)]
    post(market, actors.coordinator, task_id, slashes=slashes)  # round 0 credits nobody
    slashed = market.task(task_id).slashes_pending
    assert slashed > 0
    assert market.task(task_id).escrow == bounty  # held apart until round 0 is final

    advance_time(market, FUNDABLE.challenge)  # round 0 is final: the escrow's value is settled
    market.with_signer(early).fund(task_id, funding)  # round 1 still to come: funding is open
    assert market.task(task_id).escrow == bounty + slashed + funding  # slashes joined first
    advance_time(market, FUNDABLE.submit)  # nobody commits in round 1
    post(market, actors.coordinator, task_id)
    for amount in (funding, 1):  # every round posted: refused, and refused again
        with pytest.raises(errors.TaskFundingClosed) as e:
            market.with_signer(late).fund(task_id, amount)
        assert e.value.fields == {"taskId": task_id}
    advance_time(market, TIMING.challenge)
    market.with_signer(late).close_task(task_id)  # anyone may close a finished task
    with pytest.raises(errors.TaskNotOpen):
        market.with_signer(late).fund(task_id, funding)
    with pytest.raises(errors.NothingToPay):
        market.with_signer(late).claim_refund(task_id)

    market.with_signer(early).claim_refund(task_id)
    market.with_signer(actors.sponsor).claim_refund(task_id)
    refund = market.withdrawable(early.address)
    assert abs(refund - funding) <= 2  # what it put in: the slashes were in the escrow before it
    assert market.withdrawable(actors.sponsor.address) == bounty + slashed + funding - refund


def test_funding_waits_until_posted_credits_cannot_return_to_the_escrow(market, actors):
    """Attack 3: an outsider funds while a posted round can still be challenged; the dispute
    overturns it, its credits return to the escrow, and the outsider owns a part of them."""
    a = actors.contributors[0]
    outsider = actors.funder
    (validator,) = validators(1)
    stake_validators(market, [validator])
    task_id = create_task(
        market, actors.sponsor, actors.coordinator, rounds=2, bounty=9 * ETHER, timing=FUNDABLE
    )
    run_round(market, actors, task_id, [(a, 3 * ETHER)])
    for _ in range(2):  # the window runs: refused, and refused again
        with pytest.raises(errors.TaskFundingWaitsForChallenges) as e:
            market.with_signer(outsider).fund(task_id, 6 * ETHER)
        assert e.value.fields == {"taskId": task_id}
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence")
    # The validator recomputes round 0 and finds nothing worth a credit.
    market.with_signer(validator).vote(task_id, 0, bytes(32), 0, bytes(32), "bafyrecomputed")
    advance_time(market, FUNDABLE.challenge)  # the window and the vote are over, yet undecided
    with pytest.raises(errors.TaskFundingWaitsForChallenges):
        market.with_signer(outsider).fund(task_id, 6 * ETHER)
    market.resolve_dispute(task_id, 0)  # round 0's 3 ether go back to the escrow
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.OVERTURNED
    assert market.task(task_id).escrow == 9 * ETHER  # the stake splits evenly: no dust
    market.with_signer(outsider).fund(task_id, 6 * ETHER)  # settled: priced with them inside
    assert abs(market.funder_shares(task_id, outsider.address)[1] - 6 * ETHER) <= 2
    assert abs(market.funder_shares(task_id, actors.sponsor.address)[1] - 9 * ETHER) <= 2


def test_a_cancel_cannot_follow_timeout_slashes(market, actors):
    """Attack 5: nobody commits before the submit deadline, the coordinator timeout-slashes every
    joined contributor, then the sponsor cancels and keeps the slashed part of their bonds."""
    joined = actors.contributors[:2]
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=2)
    for who in joined:
        market.with_signer(who).claim(task_id)
    advance_time(market, TIMING.submit)  # no commit: the round goes straight to merging
    assert market.round(task_id, 0).phase is RoundPhase.MERGING
    with pytest.raises(errors.TaskNotClosable):  # the cancel window closed with the submissions
        market.with_signer(actors.sponsor).close_task(task_id)
    advance_time(market, TIMING.reveal + TIMING.merge)  # the coordinator never posts
    market.with_signer(joined[0]).close_task(task_id)  # a stalled coordinator: anyone closes
    assert market.task(task_id).status is TaskStatus.CLOSED


# ───────────────────────────────────────── 4. forced ether


def _force_ether(market: MarketClient, sender: LocalAccount, amount: int) -> None:
    """Deploy ForceSend and selfdestruct it into the market with ``amount`` wei."""
    artifact = load_artifact("ForceSend")
    factory = market.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    client = market.with_signer(sender)
    receipt = client.transact(factory.constructor())
    force = market.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    client.transact(force.functions.send(market.address), value=amount)


def test_forced_ether_is_reported_as_surplus_and_the_books_still_pass(market, actors):
    """Attack 4: ether forced in by selfdestruct breaks `payouts verify` when it demands
    balance == books; the books must pass, with the ether as surplus, until the end."""
    a, b = actors.contributors[:2]
    attacker = actors.challenger
    forced = ETHER + 12_345
    first = create_task(market, actors.sponsor, actors.coordinator, rounds=1)
    second = create_task(market, actors.sponsor, actors.coordinator, rounds=1, bounty=5 * ETHER)
    credits = {first: [(a, ETHER), (b, 2 * ETHER)], second: [(b, ETHER)]}
    trees = {first: run_round(market, actors, first, credits[first])}
    with pytest.raises(errors.ContractRevertError):  # a plain transfer is refused
        market.with_signer(attacker).transfer(market.address, forced)
    _force_ether(market, attacker, forced)

    reader = EventReader(market)
    for task_id in (first, second):
        audit = verify_task(market, reader, task_id)
        assert audit.ok, audit.as_dict()
        assert audit.surplus == forced

    trees[second] = run_round(market, actors, second, credits[second])
    advance_time(market, TIMING.challenge)
    for task_id, tree in trees.items():
        for account, amount in tree.values:
            market.claim_reward(task_id, 0, account, amount, tree.proof(account))
        market.with_signer(attacker).close_task(task_id)
        market.with_signer(actors.sponsor).claim_refund(task_id)
        for who, _ in credits[task_id]:
            market.with_signer(who).release_bond(task_id)
    for task_id in (first, second):
        market.with_signer(actors.coordinator).release_stake(task_id)
    for who in (a, b, actors.sponsor, actors.coordinator):
        _withdraw_all(market, who)
    with pytest.raises(errors.NothingToPay):  # the surplus is nobody's to withdraw
        market.with_signer(attacker).withdraw()

    assert market.balance() == forced
    for task_id in (first, second):
        assert market.task(task_id).held == 0
        audit = verify_task(market, reader, task_id)
        assert audit.ok, audit.as_dict()
        assert audit.surplus == forced


# ───────────────────────────────────────── 5. cancelling after contributors joined


def test_cancel_after_contributors_joined_returns_every_bond_in_full(public_market, actors):
    """Attack 5: the sponsor cancels after contributors locked bonds (a zero commitment cannot
    hold the cancel up); no bond may be kept, slashed or short-paid."""
    market = public_market
    sponsor = market.with_signer(actors.sponsor)
    bond = PUBLIC.claim_bond

    def create() -> int:
        coordinator = actors.coordinator.address
        return sponsor.create_task("bafkreispec", coordinator, 2, ETHER, bond, 5, AT_FLOOR)[0]

    started = create()
    worker = actors.contributors[3]
    market.with_signer(worker).claim(started)
    submit(market, started, worker, "bafywork", 1)
    with pytest.raises(errors.TaskNotClosable):  # a real commit: the round is under way
        sponsor.close_task(started)

    task_id = create()
    joined = actors.contributors[:3]
    for who in joined:
        market.with_signer(who).claim(task_id)
    with pytest.raises(errors.SubmissionZeroCommitment):
        market.with_signer(joined[0]).commit(task_id, ZERO_COMMITMENT)
    with pytest.raises(errors.TaskNotClosable):  # only the sponsor may cancel early
        market.with_signer(joined[1]).close_task(task_id)
    sponsor.close_task(task_id)
    assert market.task(task_id).status is TaskStatus.CLOSED
    with pytest.raises(errors.TaskNotOpen):  # no post, so no slash, after the cancel
        market.with_signer(actors.coordinator).post_round(
            task_id, "bafym", "bafyr", bytes(32), 0, [(joined[2].address, SlashReason.TIMEOUT)]
        )

    for who in joined:
        market.with_signer(who).release_bond(task_id)
        assert market.withdrawable(who.address) == bond
        with pytest.raises(errors.NothingToPay):
            market.with_signer(who).release_bond(task_id)
        assert _withdraw_all(market, who) == bond
    sponsor.claim_refund(task_id)
    assert market.withdrawable(actors.sponsor.address) == ETHER
    assert market.task(task_id).held == 0
