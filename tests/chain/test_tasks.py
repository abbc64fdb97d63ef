"""createTask / fund / closeTask / claimRefund on a real anvil."""

from __future__ import annotations

import pytest

from magnet_market.chain import errors
from magnet_market.chain.types import NO_HOLDOUT_TUPLE, SlashRates, TaskStatus, Timing
from tests.chain.helpers import BOND, ETHER, TIMING, advance_time, create_task, reveal, submit


def test_create_task_escrows_bounty_and_starts_round_zero(market, actors):
    task_id = create_task(market, actors.sponsor, actors.coordinator, bounty=3 * ETHER)
    task = market.task(task_id)
    assert task_id == 1 and market.task_count() == 1
    assert task.status is TaskStatus.OPEN
    assert task.sponsor == actors.sponsor.address
    assert task.coordinator == actors.coordinator.address
    assert (task.escrow, task.total_funded, task.claim_bond) == (3 * ETHER, 3 * ETHER, BOND)
    assert task.rates == SlashRates(1_000, 5_000, 3_000)
    assert task.timing == TIMING
    assert market.funder_shares(task_id, actors.sponsor.address)[1] == 3 * ETHER
    assert market.balance() == 3 * ETHER
    r0 = market.round(task_id, 0)
    assert r0.reveal_deadline - r0.submit_deadline == TIMING.reveal


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"rounds": 0}, "rounds"),
        ({"rounds": 121}, "rounds"),
        ({"max_contributors": 0}, "maxContributors"),
        ({"timing": Timing(0, 1, 1, 1)}, "submitDuration"),
        ({"timing": Timing(1, 0, 1, 1)}, "revealDuration"),
        ({"timing": Timing(1, 1, 0, 1)}, "mergeDuration"),
        ({"timing": Timing(1, 1, 1, 366 * 86400)}, "challengeDuration"),
        ({"bond": 2**96}, "claimBond"),
    ],
)
def test_create_task_rejects_out_of_bounds_parameters(market, actors, kwargs, parameter):
    with pytest.raises(errors.TaskInvalidParameter) as e:
        create_task(market, actors.sponsor, actors.coordinator, **kwargs)
    assert e.value.fields == {"parameter": parameter}


def test_create_task_rejects_bad_spec_coordinator_and_zero_bounty(market, actors):
    sponsor = market.with_signer(actors.sponsor)
    with pytest.raises(errors.TaskInvalidParameter, match="specCID"):
        sponsor.create_task("", actors.coordinator.address, 1, ETHER, BOND, 1)
    with pytest.raises(errors.TaskInvalidParameter, match="coordinator"):
        sponsor.create_task("bafy", "0x" + "00" * 20, 1, ETHER, BOND, 1)
    with pytest.raises(errors.EscrowZeroAmount):
        sponsor.create_task("bafy", actors.coordinator.address, 1, 0, BOND, 1)


def test_slash_rates_are_bounded_on_chain(market, actors):
    # The Python dataclass refuses > 100 %, so go to the contract directly.
    fn = market.contract.functions.createTask(
        "bafy",
        actors.coordinator.address,
        1,
        TIMING.as_tuple(),
        BOND,
        1,
        (10_001, 0, 0),
        NO_HOLDOUT_TUPLE,
    )
    with pytest.raises(errors.TaskInvalidParameter, match="timeoutBps"):
        market.with_signer(actors.sponsor).transact(fn, value=ETHER)
    with pytest.raises(ValueError, match="dishonest_claim_bps"):
        SlashRates(dishonest_claim_bps=20_000)


def test_fund_adds_escrow_from_several_funders(market, actors):
    task_id = create_task(market, actors.sponsor, actors.coordinator, bounty=ETHER)
    market.with_signer(actors.funder).fund(task_id, 3 * ETHER)
    market.with_signer(actors.funder).fund(task_id, ETHER)
    task = market.task(task_id)
    assert task.escrow == task.total_funded == 5 * ETHER
    shares, value = market.funder_shares(task_id, actors.funder.address)
    assert shares == task.total_shares - market.funder_shares(task_id, actors.sponsor.address)[0]
    assert 4 * ETHER - 2 <= value <= 4 * ETHER  # shares round down, in the pool's favour
    with pytest.raises(errors.EscrowZeroAmount):
        market.with_signer(actors.funder).fund(task_id, 0)
    with pytest.raises(errors.TaskNotFound) as e:
        market.with_signer(actors.funder).fund(99, ETHER)
    assert e.value.fields == {"taskId": 99}


def test_sponsor_cancels_before_commits_and_funders_get_pro_rata_refunds(market, actors):
    task_id = create_task(market, actors.sponsor, actors.coordinator, bounty=ETHER)
    market.with_signer(actors.funder).fund(task_id, 2 * ETHER)
    with pytest.raises(errors.TaskNotClosable):
        market.with_signer(actors.funder).close_task(task_id)  # not the sponsor, not stalled
    market.with_signer(actors.sponsor).close_task(task_id)
    task = market.task(task_id)
    assert task.status is TaskStatus.CLOSED and task.escrow == 0
    assert task.refund_remaining == 3 * ETHER
    with pytest.raises(errors.TaskNotOpen):
        market.with_signer(actors.funder).fund(task_id, ETHER)
    market.with_signer(actors.funder).claim_refund(task_id)
    market.with_signer(actors.sponsor).claim_refund(task_id)
    assert market.withdrawable(actors.funder.address) == 2 * ETHER
    assert market.withdrawable(actors.sponsor.address) == ETHER
    assert market.task(task_id).refund_remaining == 0
    with pytest.raises(errors.NothingToPay):
        market.with_signer(actors.funder).claim_refund(task_id)


def test_close_requires_all_rounds_final_or_a_stalled_coordinator(market, actors):
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=1)
    alice = actors.contributors[0]
    market.with_signer(alice).claim(task_id)
    salt = submit(market, task_id, alice, "bafyalice", 1)
    reveal(market, task_id, alice, "bafyalice", 1, salt)
    with pytest.raises(errors.TaskNotClosable):
        market.with_signer(actors.sponsor).close_task(task_id)  # someone committed: no cancel
    # The coordinator never posts: after the merge deadline anyone may close.
    advance_time(market, TIMING.submit + TIMING.reveal + TIMING.merge + 1)
    market.with_signer(alice).close_task(task_id)
    assert market.task(task_id).status is TaskStatus.CLOSED
    market.with_signer(alice).release_bond(task_id)
    assert market.withdrawable(alice.address) == BOND


def test_refunds_and_bonds_wait_for_close(market, actors):
    task_id = create_task(market, actors.sponsor, actors.coordinator)
    market.with_signer(actors.contributors[0]).claim(task_id)
    with pytest.raises(errors.TaskNotClosed):
        market.with_signer(actors.sponsor).claim_refund(task_id)
    with pytest.raises(errors.TaskNotClosed):
        market.with_signer(actors.contributors[0]).release_bond(task_id)


def test_ownership_moves_in_two_steps(market, actors):
    new_owner = market.with_signer(actors.funder)
    market.transact(market.contract.functions.transferOwnership(actors.funder.address))
    with pytest.raises(errors.OwnableUnauthorizedAccount):
        new_owner.pause()  # pending, not yet accepted
    new_owner.transact(market.contract.functions.acceptOwnership())
    new_owner.pause()
    with pytest.raises(errors.OwnableUnauthorizedAccount):
        market.unpause()
    new_owner.unpause()


def test_ownership_cannot_be_renounced_into_a_lock(market, actors):
    """v1 let the owner renounce, locking every task with a pending challenge. The owner now
    settles nothing, but the pause switch must keep a holder."""
    with pytest.raises(errors.OwnershipCannotBeRenounced):
        market.transact(market.contract.functions.renounceOwnership())
    with pytest.raises(errors.OwnableUnauthorizedAccount):  # nor can anyone else try
        market.with_signer(actors.funder).transact(market.contract.functions.renounceOwnership())
    assert market.call(market.contract.functions.owner()) == actors.owner.address
