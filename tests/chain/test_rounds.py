"""claim / commit / reveal / stake / postRound / challenge on a real anvil, with time travel."""

from __future__ import annotations

import pytest

from magnet_market.chain import errors
from magnet_market.chain.client import commitment_for
from magnet_market.chain.types import DisputeOutcome, RoundPhase
from tests.chain.helpers import (
    BOND,
    ETHER,
    TIMING,
    advance_time,
    create_task,
    reveal,
    run_round,
    stake_validators,
    submit,
    validators,
)


@pytest.fixture
def task_id(market, actors):
    return create_task(market, actors.sponsor, actors.coordinator, rounds=2, max_contributors=3)


def test_claim_locks_the_bond_and_fills_slots(market, actors, task_id):
    a, b, c, d = actors.contributors[:4]
    for who in (a, b, c):
        market.with_signer(who).claim(task_id)
    task = market.task(task_id)
    assert (task.contributor_count, task.bonds_held) == (3, 3 * BOND)
    assert market.contributor(task_id, a.address) == {
        "joined": True, "bond": BOND, "first_round": 0, "rewarded_rounds": 0
    }  # fmt: skip
    with pytest.raises(errors.ClaimTaskFull):
        market.with_signer(d).claim(task_id)
    with pytest.raises(errors.ClaimAlreadyJoined):
        market.with_signer(a).claim(task_id)


def test_claim_with_the_wrong_bond_reverts_with_both_amounts(market, actors, task_id):
    with pytest.raises(errors.ClaimWrongBond) as e:
        market.with_signer(actors.contributors[0]).claim(task_id, bond=BOND - 1)
    assert e.value.fields == {"taskId": task_id, "sent": BOND - 1, "required": BOND}


def test_reveals_open_early_when_everyone_committed(market, actors, task_id):
    a, b = actors.contributors[:2]
    for who in (a, b):
        market.with_signer(who).claim(task_id)
    salt_a = submit(market, task_id, a, "bafya", 10)
    assert market.round(task_id, 0).phase is RoundPhase.SUBMITTING
    with pytest.raises(errors.RoundWrongPhase) as e:
        reveal(market, task_id, a, "bafya", 10, salt_a)
    assert e.value.fields["phase"] == RoundPhase.SUBMITTING
    salt_b = submit(market, task_id, b, "bafyb", 20)
    assert market.round(task_id, 0).phase is RoundPhase.REVEALING
    reveal(market, task_id, a, "bafya", 10, salt_a)
    reveal(market, task_id, b, "bafyb", 20, salt_b)
    assert market.round(task_id, 0).phase is RoundPhase.MERGING
    assert market.submission(task_id, 0, a.address)["revealed"] is True


def test_commit_reveal_reverts(market, actors, task_id):
    a, b, outsider = actors.contributors[:3]
    for who in (a, b):
        market.with_signer(who).claim(task_id)
    with pytest.raises(errors.ClaimNotContributor):
        submit(market, task_id, outsider, "bafyx", 1)
    salt = submit(market, task_id, a, "bafya", 10)
    with pytest.raises(errors.SubmissionAlreadyCommitted):
        submit(market, task_id, a, "bafya", 10)
    advance_time(market, TIMING.submit)
    with pytest.raises(errors.SubmissionNotCommitted):
        reveal(market, task_id, b, "bafyb", 1, salt)
    with pytest.raises(errors.SubmissionCommitmentMismatch) as e:
        reveal(market, task_id, a, "bafya", 11, salt)  # claims a different metric
    assert e.value.fields["expected"] == commitment_for(task_id, 0, a.address, "bafya", 10, salt)
    with pytest.raises(errors.SubmissionEmptyCID):
        reveal(market, task_id, a, "", 10, salt)
    reveal(market, task_id, a, "bafya", 10, salt)
    with pytest.raises(errors.RoundWrongPhase):  # all committers revealed: merging
        reveal(market, task_id, a, "bafya", 10, salt)


def test_commitment_matches_the_contracts_own_hash(market, actors, task_id):
    """The contract reports the hash it computed for a reveal: the client's, for a negative
    claimed metric too."""
    who, salt = actors.contributors[0], b"\x07" * 32
    market.with_signer(who).claim(task_id)
    market.with_signer(who).commit(task_id, b"\x01" * 32)
    advance_time(market, TIMING.submit)
    with pytest.raises(errors.SubmissionCommitmentMismatch) as e:
        reveal(market, task_id, who, "bafyz", -5 * 10**17, salt)
    actual = e.value.fields["actual"]
    assert actual == commitment_for(task_id, 0, who.address, "bafyz", -5 * 10**17, salt)


def test_post_round_reserves_credits_and_starts_the_next_round(market, actors, task_id):
    a, b = actors.contributors[:2]
    run_round(market, actors, task_id, [(a, ETHER), (b, 2 * ETHER)])
    task = market.task(task_id)
    assert (task.current_round, task.escrow, task.reserved) == (1, 7 * ETHER, 3 * ETHER)
    assert market.round(task_id, 0).phase is RoundPhase.CHALLENGE
    assert market.round(task_id, 1).phase is RoundPhase.SUBMITTING
    advance_time(market, TIMING.challenge)
    assert market.round(task_id, 0).phase is RoundPhase.FINAL


def test_post_round_guards(market, actors, task_id):
    a = actors.contributors[0]
    market.with_signer(a).claim(task_id)
    coordinator = market.with_signer(actors.coordinator)
    with pytest.raises(errors.RoundWrongPhase):
        coordinator.post_round(task_id, "bafym", "bafyr", b"\x01" * 32, 0)
    advance_time(market, TIMING.submit)  # nobody committed: straight to merging
    with pytest.raises(errors.TaskNotCoordinator):
        market.with_signer(a).post_round(task_id, "bafym", "bafyr", b"\x01" * 32, 0)
    with pytest.raises(errors.CoordinatorStakeTooLow) as e:  # even a round crediting nothing
        coordinator.post_round(task_id, "bafym", "bafyr", b"\x00" * 32, 0)
    # 2 rounds left: the budget is half the escrow, the stake 10 % of it (DEVNET_RULES).
    assert e.value.fields == {"taskId": task_id, "staked": 0, "required": ETHER // 2}
    coordinator.stake_coordinator(task_id, ETHER // 2 - 1)
    with pytest.raises(errors.CoordinatorStakeTooLow):
        coordinator.post_round(task_id, "bafym", "bafyr", b"\x00" * 32, 0)
    coordinator.stake_coordinator(task_id, 1)
    with pytest.raises(errors.EscrowInsufficientFunds) as e:  # 2 rounds left: at most half
        coordinator.post_round(task_id, "bafym", "bafyr", b"\x01" * 32, 5 * ETHER + 1)
    assert e.value.fields["available"] == 5 * ETHER
    with pytest.raises(errors.TaskInvalidParameter, match="creditsRoot"):
        coordinator.post_round(task_id, "bafym", "bafyr", b"\x00" * 32, 1)
    with pytest.raises(errors.SubmissionEmptyCID):
        coordinator.post_round(task_id, "", "bafyr", b"\x01" * 32, 0)
    coordinator.post_round(task_id, "bafym", "bafyr", b"\x00" * 32, 0)
    task = market.task(task_id)
    assert (task.current_round, task.coordinator_stake) == (1, ETHER // 2)
    assert task.held == 10 * ETHER + BOND + ETHER // 2  # the stake is held for the task


def test_coordinator_stake_guards_and_release(market, actors, task_id):
    coordinator = market.with_signer(actors.coordinator)
    with pytest.raises(errors.TaskNotCoordinator):  # nobody stakes on another's behalf
        market.with_signer(actors.sponsor).stake_coordinator(task_id, ETHER)
    with pytest.raises(errors.EscrowZeroAmount):
        coordinator.stake_coordinator(task_id, 0)
    coordinator.stake_coordinator(task_id, ETHER)
    with pytest.raises(errors.TaskNotClosed):  # the stake answers for the task until it closes
        coordinator.release_stake(task_id)
    market.with_signer(actors.sponsor).close_task(task_id)  # cancelled before any commit
    with pytest.raises(errors.TaskNotOpen):
        coordinator.stake_coordinator(task_id, 1)
    with pytest.raises(errors.TaskNotCoordinator):
        market.with_signer(actors.sponsor).release_stake(task_id)
    coordinator.release_stake(task_id)
    assert market.withdrawable(actors.coordinator.address) == ETHER
    assert market.task(task_id).coordinator_stake == 0
    with pytest.raises(errors.NothingToPay):
        coordinator.release_stake(task_id)


def test_late_claimant_is_expected_from_the_next_round(market, actors, task_id):
    a, late = actors.contributors[:2]
    market.with_signer(a).claim(task_id)
    submit(market, task_id, a, "bafya", 1)  # everyone (a) committed: reveals open
    market.with_signer(late).claim(task_id)
    assert market.contributor(task_id, late.address)["first_round"] == 1


def test_challenge_nobody_votes_on_voids_the_round_and_returns_the_bond(market, actors, task_id):
    """v1's owner upheld a challenge; now an unanswered one (no quorum) voids the round."""
    a = actors.contributors[0]
    run_round(market, actors, task_id, [(a, ETHER)])
    challenger = market.with_signer(actors.challenger)
    with pytest.raises(errors.DisputeWrongBond):
        challenger.challenge(task_id, 0, "bad merge", bond=1)
    challenger.challenge(task_id, 0, "bafyevidence")
    with pytest.raises(errors.DisputeAlreadyJoined):
        challenger.challenge(task_id, 0, "again")
    with pytest.raises(errors.DisputeVoteRunning):
        challenger.resolve_dispute(task_id, 0)
    advance_time(market, TIMING.challenge)
    assert market.round(task_id, 0).phase is RoundPhase.CHALLENGE  # frozen while disputed
    challenger.resolve_dispute(task_id, 0)  # anyone decides once the vote is over
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.NO_QUORUM
    assert market.round(task_id, 0).phase is RoundPhase.VOIDED
    task = market.task(task_id)
    assert (task.escrow, task.reserved, task.bonds_held) == (10 * ETHER, 0, 2 * BOND)
    challenger.claim_dispute_payout(task_id, 0)
    assert market.withdrawable(actors.challenger.address) == BOND
    with pytest.raises(errors.DisputeNotOpen):
        market.resolve_dispute(task_id, 0)


def test_rejected_challenge_forfeits_the_bond_to_the_voters(market, actors, task_id):
    """v1's owner rejected a challenge into the escrow; now the validators who recomputed the
    posted result and voted for it take the challenger's bond."""
    a = actors.contributors[0]
    (validator,) = validators(1)
    stake_validators(market, [validator])
    tree = run_round(market, actors, task_id, [(a, ETHER)])
    posted = market.round(task_id, 0)
    market.with_signer(actors.challenger).challenge(task_id, 0, "spite")
    with pytest.raises(errors.TaskNotClosable):
        market.with_signer(actors.sponsor).close_task(task_id)  # dispute open
    market.with_signer(validator).vote(
        task_id, 0, tree.root, ETHER, posted.slashes_digest, "bafyrecomputed"
    )
    advance_time(market, market.rules().vote_duration)
    market.resolve_dispute(task_id, 0)
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.POSTED_HELD
    assert market.round(task_id, 0).phase is RoundPhase.FINAL
    assert market.task(task_id).escrow == 9 * ETHER  # the bond no longer feeds the escrow
    assert market.stance(task_id, 0, actors.challenger.address)["owed"] == 0
    market.with_signer(validator).claim_dispute_payout(task_id, 0)
    assert market.withdrawable(validator.address) == 2 * BOND
    advance_time(market, TIMING.challenge)
    with pytest.raises(errors.DisputeNotOpen):  # decided: no second dispute of the round
        market.with_signer(actors.challenger).challenge(task_id, 0, "late")


def test_pause_stops_new_work_but_not_commits(market, actors, task_id):
    a = actors.contributors[0]
    market.with_signer(a).claim(task_id)
    market.pause()
    with pytest.raises(errors.MarketIsPaused):
        create_task(market, actors.sponsor, actors.coordinator)
    with pytest.raises(errors.MarketIsPaused):
        market.with_signer(actors.contributors[1]).claim(task_id)
    submit(market, task_id, a, "bafya", 1)
    market.unpause()
    market.with_signer(actors.contributors[1]).claim(task_id)


def test_second_reveal_while_others_still_reveal(market, actors, task_id):
    a, b = actors.contributors[:2]
    for who in (a, b):
        market.with_signer(who).claim(task_id)
    salt = submit(market, task_id, a, "bafya", 1)
    submit(market, task_id, b, "bafyb", 2)
    reveal(market, task_id, a, "bafya", 1, salt)
    with pytest.raises(errors.SubmissionAlreadyRevealed):
        reveal(market, task_id, a, "bafya", 1, salt)
