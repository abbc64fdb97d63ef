"""The sealed holdout on a real anvil: its phase, key chain and bond, and ways to break them."""

from __future__ import annotations

import pytest

from magnet_market.chain import errors
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import HoldoutTerms, RoundPhase, TaskStatus
from magnet_market.datasets.seal import chain_head, key_chain, new_seed
from tests.chain.helpers import (
    BOND,
    ETHER,
    TIMING,
    advance_time,
    assert_books,
    create_task,
    play_round,
    post,
    reveal,
    settle_everything,
    submit,
)

WINDOW = 300
HOLDOUT_BOND = ETHER // 2


@pytest.fixture
def keys() -> list[bytes]:
    return key_chain(new_seed(), 3)


@pytest.fixture
def task_id(market, actors, keys):
    terms = HoldoutTerms(chain_head(keys), WINDOW, HOLDOUT_BOND)
    return create_task(market, actors.sponsor, actors.coordinator, rounds=3, holdout=terms)


def _to_unsealing(market, task_id, who) -> int:
    """Play the current round with ``who`` until its reveals close; returns the round."""
    round_ = market.task(task_id).current_round
    play_round(market, task_id, who)
    return round_


def test_a_sealed_round_waits_for_its_key_which_returns_the_bond(market, actors, keys, task_id):
    a, sponsor = actors.contributors[0], actors.sponsor
    task, holdout = market.task(task_id), market.holdout(task_id)
    assert task.escrow == 10 * ETHER  # the bond is not bounty
    assert (holdout.bond_per_round, holdout.bond_held) == (HOLDOUT_BOND, 3 * HOLDOUT_BOND)
    assert (holdout.last_key, holdout.revealed_through) == (chain_head(keys), 0)
    market.with_signer(a).claim(task_id)
    with pytest.raises(errors.RoundWrongPhase) as e:  # never while submissions can change
        market.with_signer(sponsor).reveal_holdout(task_id, keys[0])
    assert e.value.fields["phase"] == RoundPhase.SUBMITTING
    salt = submit(market, task_id, a, "bafya", 1)
    with pytest.raises(errors.RoundWrongPhase) as e:
        market.with_signer(sponsor).reveal_holdout(task_id, keys[0])
    assert e.value.fields["phase"] == RoundPhase.REVEALING
    reveal(market, task_id, a, "bafya", 1, salt)
    assert market.round(task_id, 0).phase is RoundPhase.UNSEALING
    with pytest.raises(errors.RoundWrongPhase):  # the coordinator cannot post before the key
        post(market, actors.coordinator, task_id)
    before = market.withdrawable(sponsor.address)
    receipt = market.with_signer(a).reveal_holdout(task_id, keys[0])  # anyone holding the key
    (event,) = market.contract.events.HoldoutRevealed().process_receipt(receipt)
    assert (event["args"]["round"], bytes(event["args"]["key"])) == (0, keys[0])
    assert market.withdrawable(sponsor.address) == before + HOLDOUT_BOND
    holdout = market.holdout(task_id)
    assert (holdout.last_key, holdout.revealed_through) == (keys[0], 1)
    assert holdout.bond_held == 2 * HOLDOUT_BOND
    assert market.round(task_id, 0).phase is RoundPhase.MERGING
    with pytest.raises(errors.RoundWrongPhase):  # once only
        market.with_signer(sponsor).reveal_holdout(task_id, keys[0])
    post(market, actors.coordinator, task_id)
    assert_books(market, [p.address for p in (sponsor, a)])


@pytest.mark.parametrize("which", ["later round", "wrong chain", "zero", "the head"])
def test_a_key_that_is_not_the_rounds_is_refused(market, actors, keys, task_id, which):
    _to_unsealing(market, task_id, actors.contributors[:1])
    bad = {
        "later round": keys[1],  # would let round 1's slice be read before its submissions
        "wrong chain": key_chain(new_seed(), 3)[0],
        "zero": bytes(32),
        "the head": chain_head(keys),
    }[which]
    with pytest.raises(errors.HoldoutKeyMismatch) as e:
        market.with_signer(actors.sponsor).reveal_holdout(task_id, bad)
    assert e.value.fields == {"taskId": task_id, "round": 0}
    assert market.holdout(task_id).revealed_through == 0


def test_a_missed_key_forfeits_the_bond_to_the_round_and_the_next_key_still_links(
    market, actors, keys, task_id
):
    a, b = actors.contributors[:2]
    _to_unsealing(market, task_id, [a, b])
    r = market.round(task_id, 0)
    advance_time(market, r.reveal_deadline + WINDOW - market.market_time())
    assert market.round(task_id, 0).phase is RoundPhase.MERGING
    with pytest.raises(errors.RoundWrongPhase):  # too late: the round is judged on validation
        market.with_signer(actors.sponsor).reveal_holdout(task_id, keys[0])
    budget = market.task(task_id).escrow // 3 + HOLDOUT_BOND
    too_much = CreditTree.of([(a.address, budget // 2), (b.address, budget - budget // 2 + 1)])
    with pytest.raises(errors.EscrowInsufficientFunds) as e:
        post(market, actors.coordinator, task_id, too_much)
    assert e.value.fields["available"] == budget
    tree = CreditTree.of([(a.address, budget // 2), (b.address, budget - budget // 2)])
    post(market, actors.coordinator, task_id, tree)
    (forfeit,) = market.contract.events.HoldoutForfeited().get_logs(
        from_block=0, argument_filters={"taskId": task_id}
    )
    assert (forfeit["args"]["round"], forfeit["args"]["amount"]) == (0, HOLDOUT_BOND)
    holdout = market.holdout(task_id)
    assert (holdout.bond_held, holdout.revealed_through) == (2 * HOLDOUT_BOND, 0)
    # Round 1's key hashes twice back to the head: the chain survives a missed round.
    _to_unsealing(market, task_id, [a, b])
    market.with_signer(actors.sponsor).reveal_holdout(task_id, keys[1])
    assert market.holdout(task_id).revealed_through == 2
    assert_books(market, [p.address for p in (actors.sponsor, a, b)])


def test_the_merge_window_follows_the_holdout_window(market, actors, keys, task_id):
    _to_unsealing(market, task_id, actors.contributors[:1])
    r = market.round(task_id, 0)
    advance_time(market, r.reveal_deadline + TIMING.merge - market.market_time())
    with pytest.raises(errors.TaskNotClosable):  # the coordinator's window has not even begun
        market.close_task(task_id)
    advance_time(market, WINDOW)
    market.close_task(task_id)  # the coordinator missed its window: anyone may close
    (returned,) = market.contract.events.HoldoutBondReturned().get_logs(
        from_block=0, argument_filters={"taskId": task_id}
    )
    assert returned["args"]["amount"] == 3 * HOLDOUT_BOND  # no round was posted
    assert market.holdout(task_id).bond_held == 0
    assert market.task(task_id).status is TaskStatus.CLOSED


def test_a_sponsor_cancelling_gets_its_whole_bond_back(market, actors, task_id):
    sponsor = actors.sponsor
    market.with_signer(sponsor).close_task(task_id)
    assert market.withdrawable(sponsor.address) == 3 * HOLDOUT_BOND
    market.with_signer(sponsor).claim_refund(task_id)
    assert market.withdrawable(sponsor.address) == 3 * HOLDOUT_BOND + 10 * ETHER


def test_every_round_revealed_and_settled_empties_the_market(market, actors, keys, task_id):
    a, sponsor = actors.contributors[0], actors.sponsor
    for round_ in range(3):
        _to_unsealing(market, task_id, [a])
        market.with_signer(sponsor).reveal_holdout(task_id, keys[round_])
        post(market, actors.coordinator, task_id, CreditTree.of([(a.address, ETHER)]))
    assert market.holdout(task_id).bond_held == 0
    settle_everything(market, [sponsor, a, actors.coordinator])
    assert market.balance() == 0


@pytest.mark.parametrize(
    "terms, value",
    [
        ((b"\x01" * 32, 0, HOLDOUT_BOND), 10 * ETHER),  # no window
        ((b"\x01" * 32, WINDOW, 0), 10 * ETHER),  # no bond: missing the key would cost nothing
        ((bytes(32), WINDOW, 0), 10 * ETHER),  # a window without a head
        ((bytes(32), 0, HOLDOUT_BOND), 10 * ETHER),  # a bond without a head
        ((b"\x01" * 32, 366 * 86_400, HOLDOUT_BOND), 10 * ETHER),  # beyond MAX_PHASE_DURATION
        ((b"\x01" * 32, WINDOW, 2**95), 10 * ETHER),  # 3 rounds of bond overflow uint96
    ],
)
def test_invalid_holdout_terms_are_refused(market, actors, terms, value):
    fn = market.contract.functions.createTask(
        "bafkreispec",
        actors.coordinator.address,
        3,
        TIMING.as_tuple(),
        BOND,
        5,
        (1_000, 5_000, 3_000),
        terms,
    )
    with pytest.raises(errors.TaskInvalidParameter) as e:
        market.with_signer(actors.sponsor).transact(fn, value=value)
    assert e.value.fields == {"parameter": "holdout"}


def test_a_bond_without_a_bounty_is_refused(market, actors, keys):
    terms = HoldoutTerms(chain_head(keys), WINDOW, HOLDOUT_BOND)
    with pytest.raises(errors.EscrowZeroAmount):
        create_task(market, actors.sponsor, actors.coordinator, rounds=3, bounty=0, holdout=terms)


def test_the_client_checks_terms_before_sending():
    with pytest.raises(ValueError, match="bond per round"):
        HoldoutTerms(b"\x01" * 32, WINDOW, 0)
    with pytest.raises(ValueError, match="reveal window"):
        HoldoutTerms(b"\x01" * 32, 0, 1)
    with pytest.raises(ValueError, match="head"):
        HoldoutTerms(bytes(32), WINDOW, 1)


def test_a_task_without_a_holdout_refuses_keys_and_never_unseals(market, actors):
    task_id = create_task(market, actors.sponsor, actors.coordinator)
    play_round(market, task_id, actors.contributors[:1])
    assert market.round(task_id, 0).phase is RoundPhase.MERGING
    with pytest.raises(errors.HoldoutNotSealed):
        market.with_signer(actors.sponsor).reveal_holdout(task_id, b"\x01" * 32)
    assert market.holdout(task_id).sealed is False


def test_a_pause_stops_the_holdout_clock(market, actors, keys, task_id):
    _to_unsealing(market, task_id, actors.contributors[:1])
    market.with_signer(actors.owner).pause()
    with pytest.raises(errors.MarketIsPaused):
        market.with_signer(actors.sponsor).reveal_holdout(task_id, keys[0])
    advance_time(market, 2 * WINDOW)  # paused: the window does not run
    market.with_signer(actors.owner).unpause()
    assert market.round(task_id, 0).phase is RoundPhase.UNSEALING
    market.with_signer(actors.sponsor).reveal_holdout(task_id, keys[0])
