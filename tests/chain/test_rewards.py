"""claimReward and its window / posted slashes / releaseBond / withdraw, reentrancy, and a whole
task's accounting."""

from __future__ import annotations

import pytest

from magnet_market.chain import errors
from magnet_market.chain.artifacts import load_artifact
from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import (
    SlashRates,
    SlashReason,
    TaskStatus,
    Timing,
    slashes_digest,
)
from tests.chain.helpers import (
    BOND,
    ETHER,
    TIMING,
    advance_time,
    assert_books,
    balance_and_obligations,
    create_task,
    post,
    reveal,
    run_round,
    slash_orders,
    stake_coordinator,
    submit,
)


@pytest.fixture
def task_id(market, actors):
    return create_task(market, actors.sponsor, actors.coordinator, rounds=2, max_contributors=5)


def test_claim_reward_with_proof_books_once(market, actors, task_id):
    a, b = actors.contributors[:2]
    tree = run_round(market, actors, task_id, [(a, ETHER), (b, 2 * ETHER)])
    with pytest.raises(errors.RoundWrongPhase):  # challenge window still open
        market.claim_reward(task_id, 0, a.address, ETHER, tree.proof(a.address))
    advance_time(market, TIMING.challenge)
    with pytest.raises(errors.RewardInvalidProof):
        market.claim_reward(task_id, 0, a.address, 2 * ETHER, tree.proof(a.address))
    with pytest.raises(errors.RewardInvalidProof):
        market.claim_reward(task_id, 0, a.address, ETHER, tree.proof(b.address))
    market.claim_reward(task_id, 0, a.address, ETHER, tree.proof(a.address))  # anyone may relay
    assert market.withdrawable(a.address) == ETHER
    with pytest.raises(errors.RewardAlreadyClaimed):
        market.with_signer(a).claim_reward(task_id, 0, a.address, ETHER, tree.proof(a.address))
    assert market.reward_claimed(task_id, 0, a.address)
    assert market.task(task_id).reserved == 2 * ETHER
    before = market.w3.eth.get_balance(a.address)
    receipt = market.with_signer(a).withdraw()
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert market.w3.eth.get_balance(a.address) == before + ETHER - fee
    with pytest.raises(errors.NothingToPay):
        market.with_signer(a).withdraw()


def test_claims_cannot_exceed_the_posted_total(market, actors, task_id):
    """A coordinator's tree that over-promises cannot drain other tasks' money."""
    a, b = actors.contributors[:2]
    for who in (a, b):
        market.with_signer(who).claim(task_id)
    salts = [submit(market, task_id, who, "bafyc", 1) for who in (a, b)]
    for who, salt in zip((a, b), salts, strict=True):
        reveal(market, task_id, who, "bafyc", 1, salt)
    tree = CreditTree.of([(a.address, ETHER), (b.address, ETHER)])
    stake_coordinator(market, actors.coordinator, task_id)
    market.with_signer(actors.coordinator).post_round(task_id, "bafym", "bafyr", tree.root, ETHER)
    advance_time(market, TIMING.challenge)
    market.claim_reward(task_id, 0, a.address, ETHER, tree.proof(a.address))
    with pytest.raises(errors.EscrowInsufficientFunds):
        market.claim_reward(task_id, 0, b.address, ETHER, tree.proof(b.address))


def test_slashes_travel_with_the_post_and_are_justified_on_chain(market, actors, task_id):
    honest, liar, sleeper, outsider = actors.contributors[:4]
    for who in (honest, liar, sleeper):
        market.with_signer(who).claim(task_id)
    salts = {who.address: submit(market, task_id, who, "bafyc", 7) for who in (honest, liar)}
    coordinator = market.with_signer(actors.coordinator)
    stake_coordinator(market, actors.coordinator, task_id)

    def post_with(*slashes):
        return coordinator.post_round(
            task_id, "bafym", "bafyr", bytes(32), 0, slash_orders(slashes)
        )

    with pytest.raises(errors.RoundWrongPhase):  # reveals still running: no slash, no post
        post_with((sleeper, SlashReason.TIMEOUT))
    advance_time(market, TIMING.submit)
    for who in (honest, liar):
        reveal(market, task_id, who, "bafyc", 7, salts[who.address])
    with pytest.raises(errors.TaskNotCoordinator):
        market.with_signer(honest).post_round(
            task_id, "bafym", "bafyr", bytes(32), 0, [(liar.address, SlashReason.DISHONEST_CLAIM)]
        )
    refusals = [
        (errors.SlashNotJustified, (honest, SlashReason.TIMEOUT)),  # it revealed: no timeout
        (errors.SlashNotJustified, (sleeper, SlashReason.DISHONEST_CLAIM)),  # nothing to judge
        (errors.ClaimNotContributor, (outsider, SlashReason.TIMEOUT)),
    ]
    for refusal, slash in refusals:
        with pytest.raises(refusal):  # one bad order refuses the whole post
            post_with((liar, SlashReason.DISHONEST_CLAIM), slash)
    with pytest.raises(errors.SlashAlreadyApplied):
        post_with((liar, SlashReason.DISHONEST_CLAIM), (liar, SlashReason.DISHONEST_CLAIM))
    assert market.task(task_id).current_round == 0  # nothing above was posted
    slashes = [
        (sleeper, SlashReason.TIMEOUT),
        (liar, SlashReason.DISHONEST_CLAIM),
        (liar, SlashReason.BAD_VERIFICATION),
    ]
    post_with(*slashes)
    slashed = BOND * 10 // 100 + BOND * 80 // 100
    assert market.contributor(task_id, sleeper.address)["bond"] == BOND * 90 // 100
    assert market.contributor(task_id, liar.address)["bond"] == BOND * 20 // 100
    assert market.submission(task_id, 0, liar.address)["slashed_mask"] == 0b110
    assert market.submission(task_id, 0, liar.address)["slashed_amount"] == BOND * 80 // 100
    r0 = market.round(task_id, 0)
    assert r0.slashes_digest == slashes_digest(slash_orders(slashes))
    assert r0.slashed_total == slashed
    task = market.task(task_id)
    # Taken from the bonds at once, but held until the round is final: a dispute could revert it.
    assert (task.escrow, task.bonds_held, task.slashes_pending) == (10 * ETHER, 3 * BOND, slashed)
    advance_time(market, TIMING.challenge)
    market.with_signer(actors.funder).fund(task_id, ETHER)  # final: the slashes join the escrow
    task = market.task(task_id)
    assert (task.escrow, task.bonds_held, task.slashes_pending) == (
        11 * ETHER + slashed,
        3 * BOND - slashed,
        0,
    )
    with pytest.raises(errors.SlashNotRevertible):  # nobody overturned the round
        market.revert_slash(task_id, 0, liar.address)
    assert_books(market, [])


def test_slash_never_takes_more_than_the_remaining_bond(market, actors):
    rates = SlashRates(timeout_bps=10_000, dishonest_claim_bps=10_000, bad_verification_bps=10_000)
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=1, rates=rates)
    who = actors.contributors[0]
    run_round(
        market,
        actors,
        task_id,
        [(who, 0)],
        slashes=[(who, SlashReason.DISHONEST_CLAIM), (who, SlashReason.BAD_VERIFICATION)],
    )
    assert market.contributor(task_id, who.address)["bond"] == 0
    assert market.round(task_id, 0).slashed_total == BOND
    assert market.task(task_id).slashes_pending == BOND
    advance_time(market, TIMING.challenge)
    market.with_signer(who).close_task(task_id)  # the final slashes join the refund pool
    task = market.task(task_id)
    assert (task.refund_remaining, task.bonds_held, task.slashes_pending) == (
        10 * ETHER + BOND,
        0,
        0,
    )
    with pytest.raises(errors.NothingToPay):
        market.with_signer(who).release_bond(task_id)


def test_claim_window_expiry_returns_unclaimed_credit(market, actors, task_id):
    """A contributor that never claims does not lock its credit in the market for good."""
    a, b = actors.contributors[:2]
    tree = run_round(market, actors, task_id, [(a, ETHER), (b, 2 * ETHER)])
    window = market.rules().claim_window
    with pytest.raises(errors.RoundWrongPhase):  # not final yet: nothing to expire
        market.expire_credits(task_id, 0)
    advance_time(market, TIMING.challenge)
    final_at = market.round(task_id, 0).challenge_deadline
    with pytest.raises(errors.RewardClaimWindowOpen) as e:
        market.expire_credits(task_id, 0)
    assert e.value.fields["expiresAt"] == final_at + window
    market.claim_reward(task_id, 0, a.address, ETHER, tree.proof(a.address))
    advance_time(market, window)
    with pytest.raises(errors.RewardClaimExpired) as e:
        market.claim_reward(task_id, 0, b.address, 2 * ETHER, tree.proof(b.address))
    assert e.value.fields["expiredAt"] == final_at + window
    market.with_signer(actors.funder).expire_credits(task_id, 0)  # anyone
    task = market.task(task_id)
    assert (task.escrow, task.reserved) == (9 * ETHER, 0)  # the task is open: b's 2 back in escrow
    r0 = market.round(task_id, 0)
    assert r0.claimed_total == r0.total_credited == 3 * ETHER
    with pytest.raises(errors.NothingToPay):
        market.expire_credits(task_id, 0)
    assert_books(market, [a.address])


def test_credits_expiring_after_close_go_to_the_refunds_or_the_sponsor(market, actors):
    a, b = actors.contributors[:2]
    first = create_task(market, actors.sponsor, actors.coordinator, rounds=1)
    second = create_task(market, actors.sponsor, actors.coordinator, rounds=1)
    for task_id in (first, second):
        run_round(market, actors, task_id, [(a, ETHER), (b, ETHER)])
    advance_time(market, TIMING.challenge)
    for task_id in (first, second):
        market.close_task(task_id)
    market.with_signer(actors.sponsor).claim_refund(second)  # every funder of `second` refunded
    refunded = market.withdrawable(actors.sponsor.address)
    assert refunded == 8 * ETHER
    advance_time(market, market.rules().claim_window)
    market.expire_credits(first, 0)
    assert market.task(first).refund_remaining == 10 * ETHER  # into the refund pool
    market.expire_credits(second, 0)
    assert market.withdrawable(actors.sponsor.address) == refunded + 2 * ETHER  # to the sponsor
    market.with_signer(actors.sponsor).claim_refund(first)
    assert market.withdrawable(actors.sponsor.address) == 20 * ETHER
    assert_books(market, [actors.sponsor.address])


def test_only_revealed_contributors_can_claim_their_credit(market, actors, task_id):
    a, sleeper = actors.contributors[:2]
    market.with_signer(sleeper).claim(task_id)
    market.with_signer(a).claim(task_id)
    salt = submit(market, task_id, a, "bafya", 1)
    advance_time(market, TIMING.submit)
    reveal(market, task_id, a, "bafya", 1, salt)
    tree = CreditTree.of([(a.address, ETHER), (sleeper.address, ETHER)])
    post(market, actors.coordinator, task_id, tree)
    advance_time(market, TIMING.challenge)
    with pytest.raises(errors.RewardNotRevealed) as e:
        market.claim_reward(task_id, 0, sleeper.address, ETHER, tree.proof(sleeper.address))
    assert e.value.fields == {"taskId": task_id, "round": 0, "account": sleeper.address}
    with pytest.raises(errors.RewardNotRevealed):  # not a contributor: it revealed nothing
        market.claim_reward(task_id, 0, actors.funder.address, ETHER, tree.proof(a.address))
    market.claim_reward(task_id, 0, a.address, ETHER, tree.proof(a.address))
    market.pause()
    with pytest.raises(errors.MarketIsPaused):  # no claims while paused
        market.claim_reward(task_id, 0, a.address, ETHER, tree.proof(a.address))
    market.with_signer(a).withdraw()  # but withdrawals go on
    market.unpause()


def test_a_whole_task_pays_out_exactly_what_it_holds(market, actors):
    # Challenge windows shorter than the submit phase: a co-funder can fund between rounds.
    timing = Timing(submit=1200, reveal=600, merge=600, challenge=600)
    task_id = create_task(market, actors.sponsor, actors.coordinator, timing=timing)
    a, b, c = actors.contributors[:3]
    trees = [run_round(market, actors, task_id, [(a, ETHER), (b, 3 * ETHER)])]
    advance_time(market, TIMING.challenge)  # funding waits until round 0 can't be challenged
    market.with_signer(actors.funder).fund(task_id, ETHER)  # a late co-funder, after round 0
    trees.append(run_round(market, actors, task_id, [(a, 2 * ETHER), (c, ETHER)]))
    with pytest.raises(errors.TaskFundingClosed):  # every round posted: nothing left to fund
        market.with_signer(actors.funder).fund(task_id, ETHER)
    advance_time(market, TIMING.challenge)
    for round_, tree in enumerate(trees):
        for account, amount in tree.values:
            market.claim_reward(task_id, round_, account, amount, tree.proof(account))
    market.with_signer(c).close_task(task_id)
    for who in (a, b, c):
        market.with_signer(who).release_bond(task_id)
    for who in (actors.sponsor, actors.funder):
        market.with_signer(who).claim_refund(task_id)
    market.with_signer(actors.coordinator).release_stake(task_id)
    task = market.task(task_id)
    assert task.status is TaskStatus.CLOSED
    assert task.held == 0
    people = (a, b, c, actors.sponsor, actors.funder, actors.coordinator)
    balance, owed = balance_and_obligations(market, [p.address for p in people])
    # The coordinator staked 10 % of round 0's budget (5 ether), then topped up to 10 % of
    # round 1's (the 7 ether left): 0.7 ether, all of it back.
    stake = 7 * ETHER // 10
    assert market.withdrawable(actors.coordinator.address) == stake
    assert balance == owed == 11 * ETHER + 3 * BOND + stake
    # 11 ether funded, 7 credited, 4 refunded by escrow shares: the late funder's ether paid only
    # for round 1, which spent 3 of the 7 ether escrowed then, so 4/7 of it comes back (not the
    # 1/11 of the refunds an all-time pro-rata split gives); the last to claim takes the dust.
    funder_refund = market.withdrawable(actors.funder.address)
    assert abs(funder_refund - ETHER * 4 // 7) <= 2
    assert market.withdrawable(actors.sponsor.address) == 4 * ETHER - funder_refund
    assert market.withdrawable(a.address) == 3 * ETHER + BOND
    for person in people:
        market.with_signer(person).withdraw()
    assert market.balance() == 0


def test_refund_rounding_dust_goes_to_the_last_funder(market, actors):
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=1, bounty=2)
    market.with_signer(actors.funder).fund(task_id, 1)
    who = actors.contributors[0]
    tree = run_round(market, actors, task_id, [(who, 1)])
    advance_time(market, TIMING.challenge)
    market.claim_reward(task_id, 0, who.address, 1, tree.proof(who.address))
    market.with_signer(actors.sponsor).close_task(task_id)
    market.with_signer(actors.sponsor).claim_refund(task_id)  # floor(2 * 2 / 3) = 1
    market.with_signer(actors.funder).claim_refund(task_id)  # floor(2 * 1 / 3) = 0, but last: 1
    assert market.withdrawable(actors.sponsor.address) == 1
    assert market.withdrawable(actors.funder.address) == 1
    assert market.task(task_id).refund_remaining == 0


def _deploy_attacker(market: MarketClient, deployer) -> MarketClient:
    artifact = load_artifact("ReentrantReceiver")
    factory = market.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = market.with_signer(deployer).transact(factory.constructor(market.address))
    return market.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def _act(market: MarketClient, attacker, who, call, value: int = 0):
    """Have the attacker contract call the market with ``call`` (a bound contract function)."""
    data = call._encode_transaction_data()
    return market.with_signer(who).transact(attacker.functions.act(data), value=value)


def _attacker_with_reward(market: MarketClient, actors, task_id: int, booked: bool = True):
    """A hostile contract that joined, submitted and got 1 ether credited next to an honest peer
    (booked to its balance by a third party's claim when ``booked``)."""
    attacker = _deploy_attacker(market, actors.challenger)
    eve, m = actors.challenger, market.contract.functions
    honest = actors.contributors[0]
    _act(market, attacker, eve, m.claim(task_id), value=BOND)
    market.with_signer(honest).claim(task_id)
    salt_e = b"\x01" * 32
    commitment = commitment_for(task_id, 0, attacker.address, "bafye", 1, salt_e)
    _act(market, attacker, eve, m.commitSubmission(task_id, commitment))
    salt_h = submit(market, task_id, honest, "bafyh", 1)
    _act(market, attacker, eve, m.revealSubmission(task_id, "bafye", 1, salt_e))
    reveal(market, task_id, honest, "bafyh", 1, salt_h)
    tree = CreditTree.of([(attacker.address, ETHER), (honest.address, ETHER)])
    post(market, actors.coordinator, task_id, tree)
    advance_time(market, TIMING.challenge)
    if booked:
        market.claim_reward(task_id, 0, attacker.address, ETHER, tree.proof(attacker.address))
    return attacker, tree


@pytest.mark.parametrize("reentry", ["withdraw", "claimReward"])
def test_reentrancy_on_payment_cannot_pay_twice(market, actors, task_id, reentry):
    attacker, tree = _attacker_with_reward(market, actors, task_id)
    eve, m = actors.challenger, market.contract.functions
    proof = tree.proof(attacker.address)
    call, expected = {
        "withdraw": (m.withdraw(), "ReentrancyGuardReentrantCall"),
        "claimReward": (
            m.claimReward(task_id, 0, attacker.address, ETHER, proof),
            "RewardAlreadyClaimed",
        ),
    }[reentry]
    market.with_signer(eve).transact(attacker.functions.arm(call._encode_transaction_data(), False))
    _act(market, attacker, eve, m.withdraw())
    assert attacker.functions.reentrySucceeded().call() is False
    assert market.decoder.decode(attacker.functions.reentryError().call()).name == expected
    assert market.w3.eth.get_balance(attacker.address) == ETHER
    assert market.withdrawable(attacker.address) == 0
    assert market.task(task_id).reserved == ETHER  # the honest contributor's share is untouched


def test_a_receiver_that_refuses_payment_keeps_its_balance(market, actors, task_id):
    attacker, _ = _attacker_with_reward(market, actors, task_id)
    eve, m = actors.challenger, market.contract.functions
    market.with_signer(eve).transact(attacker.functions.arm(b"", True))
    with pytest.raises(errors.TransferFailed) as e:
        _act(market, attacker, eve, m.withdraw())
    assert e.value.fields == {"account": attacker.address, "amount": ETHER}
    assert market.withdrawable(attacker.address) == ETHER


@pytest.mark.parametrize("reentry", ["claimReward", "withdraw"])
def test_reentrancy_when_paid_at_once_cannot_pay_twice(market, actors, task_id, reentry):
    attacker, tree = _attacker_with_reward(market, actors, task_id, booked=False)
    eve, m = actors.challenger, market.contract.functions
    claim = m.claimReward(task_id, 0, attacker.address, ETHER, tree.proof(attacker.address))
    call, expected = {
        "claimReward": (claim, "RewardAlreadyClaimed"),
        "withdraw": (m.withdraw(), "NothingToPay"),
    }[reentry]
    market.with_signer(eve).transact(attacker.functions.arm(call._encode_transaction_data(), False))
    _act(market, attacker, eve, claim)  # claims its own reward: sent at once, re-enters
    assert attacker.functions.reentrySucceeded().call() is False
    assert market.decoder.decode(attacker.functions.reentryError().call()).name == expected
    assert market.w3.eth.get_balance(attacker.address) == ETHER
    assert market.withdrawable(attacker.address) == 0
    assert market.task(task_id).reserved == ETHER  # the honest contributor's share is untouched


def test_a_receiver_refusing_its_reward_can_still_have_it_booked(market, actors, task_id):
    attacker, tree = _attacker_with_reward(market, actors, task_id, booked=False)
    eve, m = actors.challenger, market.contract.functions
    market.with_signer(eve).transact(attacker.functions.arm(b"", True))
    claim = m.claimReward(task_id, 0, attacker.address, ETHER, tree.proof(attacker.address))
    with pytest.raises(errors.TransferFailed):
        _act(market, attacker, eve, claim)
    assert not market.reward_claimed(task_id, 0, attacker.address)  # reverted whole
    market.claim_reward(task_id, 0, attacker.address, ETHER, tree.proof(attacker.address))
    assert market.withdrawable(attacker.address) == ETHER  # booked by another: nothing lost
