"""Disputes, the coordinator's stake, the claim window and the market clock, played by attackers
on a real anvil.

Each money test ends by checking the books (the balance is every task's holdings, the validators'
stakes and every withdrawable balance) and then winds the market down — every window outwaited,
every task closed, every payout, refund, bond and stake booked and withdrawn — to an empty
contract: no wei is left locked.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from magnet_market.app.auditor import verify_task
from magnet_market.chain import errors
from magnet_market.chain.client import MarketClient
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import (
    DEVNET_RULES,
    DisputeOutcome,
    RoundPhase,
    SlashReason,
    TaskStatus,
    candidate_key,
    slashes_digest,
)
from tests.chain.helpers import (
    BOND,
    ETHER,
    TIMING,
    Slash,
    advance_time,
    assert_books,
    create_task,
    play_round,
    post,
    run_round,
    settle_everything,
    slash_orders,
    stake_needed,
    stake_validators,
    validators,
)

#: DEVNET_RULES: the coordinator stakes 10 % of a round's budget; round 0 of the usual task
#: (10 ether over 2 rounds) has a budget of 5 ether.
STAKE = ETHER // 2
MAX_PAUSE = 7 * 86_400


@pytest.fixture
def panel(market, actors) -> list[LocalAccount]:
    """Three validators, staked before any dispute of the test opens."""
    accounts = validators(3)
    stake_validators(market, accounts)
    return accounts


@pytest.fixture
def task_id(market, actors) -> int:
    return create_task(market, actors.sponsor, actors.coordinator, rounds=2, max_contributors=5)


def _people(actors) -> list[LocalAccount]:
    """Everyone a test may book money to."""
    return [
        actors.sponsor,
        actors.coordinator,
        actors.funder,
        actors.challenger,
        *actors.contributors[:6],
        *validators(5),
    ]


def _addresses(actors) -> list[str]:
    return [p.address for p in _people(actors)]


def _wind_down(market: MarketClient, actors) -> None:
    """Check the books, settle everything, and check that the market is empty."""
    assert_books(market, _addresses(actors))
    settle_everything(market, _people(actors))
    assert_books(market, _addresses(actors))
    assert market.balance() == 0, "money is left locked in the market"


def _audit(market: MarketClient, task_id: int) -> None:
    """The auditor's replay of the task's events agrees with the contract."""
    audit = verify_task(market, EventReader(market), task_id)
    assert audit.ok, audit.as_dict()


def _ballot(tree: CreditTree | None, slashes: list[Slash] = ()) -> tuple[bytes, int, bytes]:
    """(credits root, total, slashes digest): what a validator votes for."""
    root, total = (tree.root, tree.total) if tree else (bytes(32), 0)
    return root, total, slashes_digest(slash_orders(slashes))


def _vote(market, who, task_id, round_, ballot) -> None:
    market.with_signer(who).vote(task_id, round_, *ballot, "bafyrecomputed")


def _outwait_vote(market: MarketClient) -> None:
    advance_time(market, market.rules().vote_duration)


def _payout(market: MarketClient, who: LocalAccount, task_id: int, round_: int) -> int:
    """``who`` books its dispute payout; returns the wei booked (its withdrawable's growth)."""
    before = market.withdrawable(who.address)
    owed = market.stance(task_id, round_, who.address)["owed"]
    market.with_signer(who).claim_dispute_payout(task_id, round_)
    booked = market.withdrawable(who.address) - before
    assert booked == owed
    return booked


def _resolved(market: MarketClient, task_id: int, round_: int):
    (event,) = EventReader(market).get("DisputeResolved", taskId=task_id, round=round_)
    return event["args"]


# ───────────────────────────────────────── a Sybil credited without work


def test_sybil_credit_cannot_be_claimed_and_expires_back_to_escrow(market, actors, task_id):
    """A dishonest coordinator credits most of the round to its own Sybil slot, which never
    revealed anything (and to an address that never joined). Nobody challenges in time."""
    honest, sybil = actors.contributors[:2]
    stranger = Account.create()
    market.with_signer(sybil).claim(task_id)  # a real slot, but no submission
    play_round(market, task_id, [honest])
    tree = CreditTree.of(
        [(honest.address, ETHER), (sybil.address, 3 * ETHER), (stranger.address, ETHER // 2)]
    )
    post(market, actors.coordinator, task_id, tree)
    advance_time(market, TIMING.challenge)
    assert market.round(task_id, 0).phase is RoundPhase.FINAL

    with pytest.raises(errors.RewardNotRevealed) as e:
        market.with_signer(sybil).claim_reward(
            task_id, 0, sybil.address, 3 * ETHER, tree.proof(sybil.address)
        )
    assert e.value.fields == {"taskId": task_id, "round": 0, "account": sybil.address}
    with pytest.raises(errors.RewardNotRevealed):  # never joined, so never revealed
        market.claim_reward(task_id, 0, stranger.address, ETHER // 2, tree.proof(stranger.address))
    market.claim_reward(task_id, 0, honest.address, ETHER, tree.proof(honest.address))
    with pytest.raises(errors.RewardClaimWindowOpen):  # the credit is not the funders' yet
        market.expire_credits(task_id, 0)

    _audit(market, task_id)
    advance_time(market, market.rules().claim_window)
    with pytest.raises(errors.RewardClaimExpired):  # the window is over for everyone
        market.claim_reward(task_id, 0, sybil.address, 3 * ETHER, tree.proof(sybil.address))
    market.with_signer(actors.funder).expire_credits(task_id, 0)  # anyone may
    (expired,) = EventReader(market).get("CreditsExpired", taskId=task_id)
    assert expired["args"]["amount"] == 3 * ETHER + ETHER // 2
    task = market.task(task_id)
    assert (task.escrow, task.reserved) == (10 * ETHER - ETHER, 0)  # back to the escrow
    assert market.withdrawable(honest.address) == ETHER
    _audit(market, task_id)
    _wind_down(market, actors)


def test_the_audit_agrees_after_credits_expire(market, actors, task_id):
    """Expired credit counts as claimed on chain: the auditor's replay must agree."""
    worker = actors.contributors[0]
    run_round(market, actors, task_id, [(worker, ETHER)])
    advance_time(market, TIMING.challenge + market.rules().claim_window)
    market.expire_credits(task_id, 0)
    _audit(market, task_id)


# ───────────────────────────────────────── an overturned post


def test_dishonest_post_is_overturned_and_its_stake_pays_the_winners(market, actors, panel):
    """The coordinator credits the round to a colluder and slashes the honest contributor.
    A challenger disputes it; two validators recompute the honest credits, a third (colluding)
    backs the post. The honest result wins: the coordinator's stake and the colluding voter's
    bond pay the challenger and the honest voters to the wei, the honest contributor claims under
    the replaced root, and its slash is reverted."""
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=2)
    honest, colluder = actors.contributors[:2]
    play_round(market, task_id, [honest, colluder])
    posted_tree = CreditTree.of([(colluder.address, 3 * ETHER)])
    posted_slashes = [(honest, SlashReason.DISHONEST_CLAIM)]
    post(market, actors.coordinator, task_id, posted_tree, posted_slashes)
    assert market.task(task_id).coordinator_stake == STAKE
    slashed = BOND * 5_000 // 10_000
    assert market.submission(task_id, 0, honest.address)["slashed_amount"] == slashed
    assert market.contributor(task_id, honest.address)["bond"] == BOND - slashed

    challenger = market.with_signer(actors.challenger)
    challenger.challenge(task_id, 0, "bafyevidence")
    dispute = market.dispute(task_id, 0)
    posted = market.round(task_id, 0)
    assert (
        dispute.posted_candidate
        == posted.candidate
        == candidate_key(*_ballot(posted_tree, posted_slashes))
    )
    honest_tree = CreditTree.of([(honest.address, 2 * ETHER), (colluder.address, ETHER // 2)])
    honest_ballot = _ballot(honest_tree)
    _vote(market, panel[0], task_id, 0, honest_ballot)
    _vote(market, panel[1], task_id, 0, _ballot(posted_tree, posted_slashes))  # the colluder
    _vote(market, panel[2], task_id, 0, honest_ballot)
    assert market.votes_for(task_id, 0, candidate_key(*honest_ballot)) == 2
    with pytest.raises(errors.RoundWrongPhase):  # claims wait for the decision
        market.claim_reward(
            task_id, 0, colluder.address, 3 * ETHER, posted_tree.proof(colluder.address)
        )
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)

    dispute = market.dispute(task_id, 0)
    assert dispute.outcome is DisputeOutcome.OVERTURNED
    assert dispute.leader == candidate_key(*honest_ballot)
    # Winners: the challenger and the two honest voters. Pool: the colluding voter's bond and
    # the coordinator's whole stake.
    pool = BOND + STAKE
    per_winner = pool // 3
    assert dispute.payout_per_winner == per_winner
    resolved = _resolved(market, task_id, 0)
    assert resolved["forfeitedStake"] == STAKE
    assert resolved["refundedToEscrow"] == 3 * ETHER - (2 * ETHER + ETHER // 2)
    dust = pool - 3 * per_winner
    task = market.task(task_id)
    assert task.coordinator_stake == 0
    assert task.slashes_pending == 0
    assert task.escrow == 10 * ETHER - (2 * ETHER + ETHER // 2) + dust
    r0 = market.round(task_id, 0)
    assert (r0.phase, r0.credits_root, r0.total_credited) == (
        RoundPhase.FINAL,
        honest_tree.root,
        2 * ETHER + ETHER // 2,
    )

    for winner in (actors.challenger, panel[0], panel[2]):
        assert _payout(market, winner, task_id, 0) == BOND + per_winner
        assert market.withdrawable(winner.address) == BOND + per_winner
        with pytest.raises(errors.NothingToPay):  # booked once
            market.with_signer(winner).claim_dispute_payout(task_id, 0)
    assert market.stance(task_id, 0, panel[1].address)["owed"] == 0
    with pytest.raises(errors.NothingToPay):  # the colluding voter lost its bond
        market.with_signer(panel[1]).claim_dispute_payout(task_id, 0)

    with pytest.raises(errors.RewardInvalidProof):  # the posted credits are gone
        market.claim_reward(
            task_id, 0, colluder.address, 3 * ETHER, posted_tree.proof(colluder.address)
        )
    market.claim_reward(task_id, 0, honest.address, 2 * ETHER, honest_tree.proof(honest.address))
    market.claim_reward(
        task_id, 0, colluder.address, ETHER // 2, honest_tree.proof(colluder.address)
    )
    assert market.withdrawable(honest.address) == 2 * ETHER

    market.with_signer(actors.funder).revert_slash(task_id, 0, honest.address)  # anyone may
    assert market.contributor(task_id, honest.address)["bond"] == BOND
    assert market.submission(task_id, 0, honest.address)["slashed_amount"] == 0
    with pytest.raises(errors.SlashNotRevertible):  # given back once
        market.revert_slash(task_id, 0, honest.address)

    # Its stake gone, the coordinator must stake again before it posts another round.
    advance_time(market, TIMING.submit)  # round 1: nobody submits
    needed = stake_needed(market, task_id)
    with pytest.raises(errors.CoordinatorStakeTooLow) as e:
        post(market, actors.coordinator, task_id, stake=False)
    assert e.value.fields == {"taskId": task_id, "staked": 0, "required": needed}
    _audit(market, task_id)
    _wind_down(market, actors)


# ───────────────────────────────────────── a frivolous challenge


def test_frivolous_challenge_is_held_and_the_challenger_pays_the_voters(market, actors, panel):
    """A griefer disputes an honest post to hold up its payments; every validator recomputes
    the posted result. The post stands, with its slash, and the griefer's bond goes to the
    voters (its odd wei to the escrow)."""
    task_id = create_task(market, actors.sponsor, actors.coordinator, rounds=2)
    worker, sleeper = actors.contributors[:2]
    market.with_signer(sleeper).claim(task_id)  # never submits: a justified timeout
    slashes = [(sleeper, SlashReason.TIMEOUT)]
    tree = run_round(market, actors, task_id, [(worker, ETHER)], slashes=slashes)
    market.with_signer(actors.challenger).challenge(task_id, 0, "spite")
    for validator in panel:
        _vote(market, validator, task_id, 0, _ballot(tree, slashes))
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)

    dispute = market.dispute(task_id, 0)
    assert dispute.outcome is DisputeOutcome.POSTED_HELD
    per_voter, dust = divmod(BOND, 3)
    assert dust == 1  # 10^16 wei split three ways
    assert dispute.payout_per_winner == per_voter
    assert _resolved(market, task_id, 0)["forfeitedStake"] == 0
    task = market.task(task_id)
    assert task.coordinator_stake == STAKE  # an upheld post costs the coordinator nothing
    assert task.escrow == 9 * ETHER + dust
    assert market.stance(task_id, 0, actors.challenger.address)["owed"] == 0
    with pytest.raises(errors.NothingToPay):
        market.with_signer(actors.challenger).claim_dispute_payout(task_id, 0)
    for validator in panel:
        assert _payout(market, validator, task_id, 0) == BOND + per_voter
    assert market.round(task_id, 0).phase is RoundPhase.FINAL
    market.claim_reward(task_id, 0, worker.address, ETHER, tree.proof(worker.address))
    with pytest.raises(errors.SlashNotRevertible):  # the slash stands with the post
        market.revert_slash(task_id, 0, sleeper.address)
    assert market.task(task_id).slashes_pending == BOND // 10  # final: it joins the next funding
    _audit(market, task_id)
    _wind_down(market, actors)


# ───────────────────────────────────────── a decoy challenge


def test_a_decoy_challenge_cannot_pre_empt_the_real_one(market, actors, panel, task_id):
    """The coordinator's accomplice challenges first, at the last second of the window, with a
    worthless reason, hoping to use up the round's only challenge. The real challenger joins the
    same dispute (the window has closed, the vote runs) and wins with it."""
    decoy = actors.funder
    honest, colluder = actors.contributors[:2]
    play_round(market, task_id, [honest, colluder])
    posted_tree = CreditTree.of([(colluder.address, 2 * ETHER)])
    post(market, actors.coordinator, task_id, posted_tree)
    deadline = market.round(task_id, 0).challenge_deadline
    advance_time(market, deadline - market.market_time() - 2)
    market.with_signer(decoy).challenge(task_id, 0, "nothing to see")
    with pytest.raises(errors.DisputeAlreadyJoined):
        market.with_signer(decoy).challenge(task_id, 0, "again")
    advance_time(market, 5)  # the challenge window is over, the vote is not
    assert market.market_time() >= deadline
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyrealevidence")
    assert market.dispute(task_id, 0).challengers == 2
    honest_tree = CreditTree.of([(honest.address, ETHER), (colluder.address, ETHER)])
    for validator in panel[:2]:
        _vote(market, validator, task_id, 0, _ballot(honest_tree))
    _outwait_vote(market)
    with pytest.raises(errors.DisputeNotOpen):  # the vote is over: nobody joins any more
        market.with_signer(actors.sponsor).challenge(task_id, 0, "late")
    market.resolve_dispute(task_id, 0)

    assert market.dispute(task_id, 0).outcome is DisputeOutcome.OVERTURNED
    per_winner = STAKE // 4  # two challengers and two voters share the stake; no loser's bond
    assert market.dispute(task_id, 0).payout_per_winner == per_winner
    assert _payout(market, actors.challenger, task_id, 0) == BOND + per_winner
    assert _payout(market, decoy, task_id, 0) == BOND + per_winner  # a decoy gains no edge
    for validator in panel[:2]:
        assert _payout(market, validator, task_id, 0) == BOND + per_winner
    market.claim_reward(task_id, 0, honest.address, ETHER, honest_tree.proof(honest.address))
    _audit(market, task_id)
    _wind_down(market, actors)


# ───────────────────────────────────────── no quorum


def test_no_votes_void_the_round_and_every_bond_comes_back(market, actors, panel, task_id):
    """Nobody votes on a dispute: no quorum. The round is voided (its credits back to the
    escrow, its slashes revertible), every challenger's bond comes back, the stake stays."""
    worker, sleeper = actors.contributors[:2]
    market.with_signer(sleeper).claim(task_id)
    tree = run_round(
        market, actors, task_id, [(worker, 2 * ETHER)], [(sleeper, SlashReason.TIMEOUT)]
    )
    for who in (actors.challenger, actors.funder):
        market.with_signer(who).challenge(task_id, 0, "bafyevidence")
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)

    assert market.dispute(task_id, 0).outcome is DisputeOutcome.NO_QUORUM
    resolved = _resolved(market, task_id, 0)
    assert (resolved["refundedToEscrow"], resolved["forfeitedStake"]) == (2 * ETHER, 0)
    assert market.round(task_id, 0).phase is RoundPhase.VOIDED
    task = market.task(task_id)
    assert (task.escrow, task.reserved, task.slashes_pending) == (10 * ETHER, 0, 0)
    assert task.coordinator_stake == STAKE
    for who in (actors.challenger, actors.funder):
        assert _payout(market, who, task_id, 0) == BOND
    with pytest.raises(errors.RoundWrongPhase):  # voided: nothing to claim
        market.claim_reward(task_id, 0, worker.address, 2 * ETHER, tree.proof(worker.address))
    market.revert_slash(task_id, 0, sleeper.address)
    assert market.contributor(task_id, sleeper.address)["bond"] == BOND
    _audit(market, task_id)
    _wind_down(market, actors)


def test_too_few_votes_decide_nothing(connection, actors):
    """On a market that needs three votes, two votes for another result void the round instead
    of overturning it: every bond comes back and the coordinator keeps its stake."""
    record = deploy_market(
        connection, actors.owner, save=False, rules=replace(DEVNET_RULES, quorum=3)
    )
    market = MarketClient(connection, record.address, actors.owner)
    panel = validators(2)
    stake_validators(market, panel)
    task_id = create_task(market, actors.sponsor, actors.coordinator)
    worker = actors.contributors[0]
    run_round(market, actors, task_id, [(worker, ETHER)])
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence")
    for validator in panel:
        _vote(market, validator, task_id, 0, _ballot(None))
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)
    dispute = market.dispute(task_id, 0)
    assert (dispute.outcome, dispute.leader_votes, dispute.tied) == (
        DisputeOutcome.NO_QUORUM,
        2,
        False,
    )
    assert market.task(task_id).coordinator_stake == STAKE
    for who in (actors.challenger, *panel):
        assert _payout(market, who, task_id, 0) == BOND
    _wind_down(market, actors)


def test_a_tie_decides_nothing(market, actors, panel, task_id):
    worker = actors.contributors[0]
    tree = run_round(market, actors, task_id, [(worker, ETHER)])
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence")
    _vote(market, panel[0], task_id, 0, _ballot(tree))
    _vote(market, panel[1], task_id, 0, _ballot(None))
    dispute = market.dispute(task_id, 0)
    assert (dispute.votes, dispute.leader_votes, dispute.tied) == (2, 1, True)
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.NO_QUORUM
    assert market.round(task_id, 0).phase is RoundPhase.VOIDED
    assert market.task(task_id).escrow == 10 * ETHER
    for who in (actors.challenger, *panel[:2]):
        assert _payout(market, who, task_id, 0) == BOND
    _wind_down(market, actors)


def test_a_tie_broken_by_a_later_vote_is_decided(market, actors, panel, task_id):
    worker = actors.contributors[0]
    tree = run_round(market, actors, task_id, [(worker, ETHER)])
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence")
    _vote(market, panel[0], task_id, 0, _ballot(None))
    _vote(market, panel[1], task_id, 0, _ballot(tree))
    assert market.dispute(task_id, 0).tied
    _vote(market, panel[2], task_id, 0, _ballot(tree))
    dispute = market.dispute(task_id, 0)
    assert (dispute.leader, dispute.leader_votes, dispute.tied) == (
        candidate_key(*_ballot(tree)),
        2,
        False,
    )
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.POSTED_HELD
    per_winner = 2 * BOND // 2  # the challenger's and the losing voter's bonds, two ways
    for validator in panel[1:]:
        assert _payout(market, validator, task_id, 0) == BOND + per_winner
    _wind_down(market, actors)


# ───────────────────────────────────────── a replacement that credits more


def test_a_replacement_crediting_more_than_posted_voids_the_round(market, actors, panel, task_id):
    """Validators can take the coordinator's stake but not raise a round's spending: a winner
    that credits more than was posted voids the round instead of replacing its credits."""
    worker, other = actors.contributors[:2]
    play_round(market, task_id, [worker, other])
    posted_tree = CreditTree.of([(worker.address, ETHER)])
    posted_slashes = [(other, SlashReason.BAD_VERIFICATION)]
    post(market, actors.coordinator, task_id, posted_tree, posted_slashes)
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence")
    richer = CreditTree.of([(worker.address, ETHER), (other.address, 3 * ETHER)])
    for validator in panel[:2]:
        _vote(market, validator, task_id, 0, _ballot(richer))
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)

    assert market.dispute(task_id, 0).outcome is DisputeOutcome.OVERTURNED
    assert market.round(task_id, 0).phase is RoundPhase.VOIDED
    resolved = _resolved(market, task_id, 0)
    assert (resolved["forfeitedStake"], resolved["refundedToEscrow"]) == (STAKE, ETHER)
    per_winner = STAKE // 3
    task = market.task(task_id)
    assert (task.reserved, task.coordinator_stake, task.slashes_pending) == (0, 0, 0)
    assert task.escrow == 10 * ETHER + STAKE - 3 * per_winner
    with pytest.raises(errors.RoundWrongPhase):
        market.claim_reward(task_id, 0, other.address, 3 * ETHER, richer.proof(other.address))
    market.revert_slash(task_id, 0, other.address)
    assert market.contributor(task_id, other.address)["bond"] == BOND
    for who in (actors.challenger, *panel[:2]):
        assert _payout(market, who, task_id, 0) == BOND + per_winner
    _audit(market, task_id)
    _wind_down(market, actors)


# ───────────────────────────────────────── who may vote, and the refusals


def test_a_validator_staked_after_the_dispute_opened_cannot_vote(market, actors, panel, task_id):
    """Seeing a dispute, an attacker stakes validators to swing it; and an outsider votes."""
    late = validators(4)[3]
    tree = run_round(market, actors, task_id, [(actors.contributors[0], ETHER)])
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence")
    market.with_signer(late).stake_validator()
    advance_time(market, 1)
    with pytest.raises(errors.VoterNotEligible) as e:
        _vote(market, late, task_id, 0, _ballot(None))
    assert e.value.fields == {"taskId": task_id, "round": 0, "account": late.address}
    with pytest.raises(errors.VoterNotEligible):  # not on the panel at all
        _vote(market, actors.funder, task_id, 0, _ballot(None))
    _vote(market, panel[0], task_id, 0, _ballot(tree))
    assert market.dispute(task_id, 0).votes == 1
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.POSTED_HELD
    _wind_down(market, actors)


def test_dispute_and_panel_refusals(market, actors, panel, task_id):
    validator = panel[0]
    with pytest.raises(errors.ValidatorAlreadyStaked):
        market.with_signer(validator).stake_validator()
    with pytest.raises(errors.ValidatorWrongStake) as e:
        market.with_signer(actors.funder).stake_validator(amount=1)
    assert e.value.fields == {"sent": 1, "required": DEVNET_RULES.validator_stake}
    with pytest.raises(errors.ValidatorNotStaked):
        market.with_signer(actors.funder).unstake_validator()

    tree = run_round(market, actors, task_id, [(actors.contributors[0], ETHER)])
    ballot = _ballot(tree)
    with pytest.raises(errors.DisputeNotOpen):  # nothing to vote on before a challenge
        _vote(market, validator, task_id, 0, ballot)
    with pytest.raises(errors.DisputeNotOpen):
        market.resolve_dispute(task_id, 0)
    challenger = market.with_signer(actors.challenger)
    with pytest.raises(errors.DisputeWrongBond) as e:
        challenger.challenge(task_id, 0, "cheap", bond=BOND - 1)
    assert e.value.fields == {"taskId": task_id, "sent": BOND - 1, "required": BOND}
    challenger.challenge(task_id, 0, "bafyevidence")
    with pytest.raises(errors.DisputeAlreadyJoined):
        challenger.challenge(task_id, 0, "twice")
    with pytest.raises(errors.DisputeWrongBond):
        market.with_signer(validator).vote(task_id, 0, *ballot, "bafyr", bond=BOND + 1)
    _vote(market, validator, task_id, 0, ballot)
    with pytest.raises(errors.DisputeAlreadyJoined):
        _vote(market, validator, task_id, 0, ballot)
    with pytest.raises(errors.DisputeAlreadyJoined):  # nor a change of mind
        _vote(market, validator, task_id, 0, _ballot(None))
    with pytest.raises(errors.DisputeVoteRunning) as e:
        market.resolve_dispute(task_id, 0)
    assert e.value.fields["voteDeadline"] == market.dispute(task_id, 0).vote_deadline
    with pytest.raises(errors.DisputeVoteRunning):  # no payout before the decision
        market.with_signer(validator).claim_dispute_payout(task_id, 0)
    _outwait_vote(market)
    with pytest.raises(errors.DisputeNotOpen):  # too late to vote
        _vote(market, panel[1], task_id, 0, ballot)
    with pytest.raises(errors.DisputeNotOpen):  # and to join
        market.with_signer(actors.funder).challenge(task_id, 0, "late")
    market.resolve_dispute(task_id, 0)
    with pytest.raises(errors.DisputeNotOpen):  # decided once
        market.resolve_dispute(task_id, 0)
    assert _payout(market, validator, task_id, 0) == 2 * BOND
    with pytest.raises(errors.NothingToPay):
        market.with_signer(validator).claim_dispute_payout(task_id, 0)
    with pytest.raises(errors.NothingToPay):  # a bystander had no part in it
        market.with_signer(actors.sponsor).claim_dispute_payout(task_id, 0)
    advance_time(market, TIMING.challenge)
    with pytest.raises(errors.DisputeNotOpen):  # decided: no second dispute of the round
        market.with_signer(actors.funder).challenge(task_id, 0, "again")

    # An undisputed round past its window cannot be challenged any more.
    other = create_task(market, actors.sponsor, actors.coordinator)
    run_round(market, actors, other, [(actors.contributors[1], ETHER)])
    advance_time(market, TIMING.challenge)
    with pytest.raises(errors.RoundWrongPhase) as e:
        challenger.challenge(other, 0, "late")
    assert e.value.fields["phase"] == RoundPhase.FINAL
    with pytest.raises(errors.TaskNotFound):
        challenger.challenge(99, 0, "nothing")

    market.with_signer(panel[2]).unstake_validator()  # leaves; the stake is booked back
    assert market.withdrawable(panel[2].address) == DEVNET_RULES.validator_stake
    assert market.validator(panel[2].address) == (0, 0)
    assert market.validator_stake_total() == 2 * DEVNET_RULES.validator_stake
    _wind_down(market, actors)


# ───────────────────────────────────────── the coordinator's stake


def test_posting_needs_a_stake_for_the_rounds_budget(market, actors, task_id):
    """A coordinator with nothing at stake posts whatever it likes; so posting needs a stake of
    the round's budget's share, and a budget grown by new funding needs a larger stake."""
    coordinator = market.with_signer(actors.coordinator)
    advance_time(market, TIMING.submit)  # round 0: nobody submits
    with pytest.raises(errors.CoordinatorStakeTooLow) as e:
        post(market, actors.coordinator, task_id, stake=False)
    assert e.value.fields == {"taskId": task_id, "staked": 0, "required": STAKE}
    coordinator.stake_coordinator(task_id, STAKE)
    post(market, actors.coordinator, task_id, stake=False)
    advance_time(market, TIMING.challenge)  # round 0 final: funding opens again
    market.with_signer(actors.funder).fund(task_id, 10 * ETHER)  # round 1's budget: 20 ether
    advance_time(market, TIMING.submit)
    with pytest.raises(errors.CoordinatorStakeTooLow) as e:
        post(market, actors.coordinator, task_id, stake=False)
    assert e.value.fields == {"taskId": task_id, "staked": STAKE, "required": 2 * ETHER}
    coordinator.stake_coordinator(task_id, 2 * ETHER - STAKE)
    post(market, actors.coordinator, task_id, stake=False)
    assert market.task(task_id).held == 20 * ETHER + 2 * ETHER
    advance_time(market, TIMING.challenge)
    market.close_task(task_id)
    coordinator.release_stake(task_id)
    assert market.withdrawable(actors.coordinator.address) == 2 * ETHER
    _wind_down(market, actors)


# ───────────────────────────────────────── the market clock


def test_a_pause_freezes_the_challenge_and_vote_windows(market, actors, panel, task_id):
    """The owner pauses while a round is disputed and another's challenge window runs: neither
    window may run out while nobody can act."""
    worker = actors.contributors[0]
    tree = run_round(market, actors, task_id, [(worker, ETHER)])
    market.with_signer(actors.challenger).challenge(task_id, 0, "bafyevidence")
    vote_deadline = market.dispute(task_id, 0).vote_deadline
    other = create_task(market, actors.sponsor, actors.coordinator)
    run_round(market, actors, other, [(actors.contributors[1], ETHER)])
    challenge_deadline = market.round(other, 0).challenge_deadline

    market.pause()
    assert market.paused()
    frozen = market.market_time()  # the clock stops at the pause's block
    assert frozen < vote_deadline and frozen < challenge_deadline
    advance_time(market, 3 * 86_400)  # three days in block time
    assert market.market_time() == frozen  # none in market time
    with pytest.raises(errors.MarketIsPaused):
        _vote(market, panel[0], task_id, 0, _ballot(tree))
    with pytest.raises(errors.MarketIsPaused):
        market.resolve_dispute(task_id, 0)
    with pytest.raises(errors.MarketIsPaused):
        market.with_signer(actors.funder).challenge(task_id, 0, "join")
    with pytest.raises(errors.MarketIsPaused):
        market.with_signer(actors.challenger).challenge(other, 0, "bafyevidence")
    with pytest.raises(errors.MarketIsPaused):
        market.with_signer(validators(4)[3]).stake_validator()
    with pytest.raises(errors.MarketIsPaused):
        market.pause()
    assert market.round(other, 0).phase is RoundPhase.CHALLENGE
    market.unpause()
    (unpaused,) = EventReader(market).get("MarketUnpaused")
    paused_for = unpaused["args"]["pausedSeconds"]
    assert paused_for >= 3 * 86_400
    with pytest.raises(errors.MarketNotPaused):
        market.unpause()

    # Deadlines are market time: both windows still have what they had before the pause.
    assert market.dispute(task_id, 0).vote_deadline == vote_deadline
    assert market.round(other, 0).challenge_deadline == challenge_deadline
    assert market.market_time() - frozen <= 5  # the seconds the test itself took
    market.with_signer(actors.challenger).challenge(other, 0, "bafyevidence")
    _vote(market, panel[0], task_id, 0, _ballot(tree))
    with pytest.raises(errors.DisputeVoteRunning):
        market.resolve_dispute(task_id, 0)
    _outwait_vote(market)
    market.resolve_dispute(task_id, 0)
    market.resolve_dispute(other, 0)  # nobody voted: no quorum
    assert market.dispute(task_id, 0).outcome is DisputeOutcome.POSTED_HELD
    assert market.dispute(other, 0).outcome is DisputeOutcome.NO_QUORUM

    # Booking what is owed goes on under a later pause; moving money or time does not. (The
    # week of cool-down also outlasts the claim window of round 0's credit.)
    advance_time(market, MAX_PAUSE)
    market.pause()
    assert _payout(market, panel[0], task_id, 0) == 2 * BOND
    assert _payout(market, actors.challenger, other, 0) == BOND
    market.with_signer(panel[0]).withdraw()
    market.with_signer(panel[1]).unstake_validator()
    with pytest.raises(errors.MarketIsPaused):
        market.expire_credits(task_id, 0)
    with pytest.raises(errors.MarketIsPaused):
        market.close_task(other)
    market.unpause()
    market.expire_credits(task_id, 0)
    assert market.task(task_id).escrow == 10 * ETHER
    _wind_down(market, actors)


def test_a_pause_ends_by_itself_and_cannot_be_chained(market, actors, task_id):
    """A rogue owner tries to stop the market for good: pause, let it lapse, pause again."""
    with pytest.raises(errors.OwnableUnauthorizedAccount):
        market.with_signer(actors.challenger).pause()
    with pytest.raises(errors.MarketNotPaused):
        market.unpause()
    market.pause()
    (paused,) = EventReader(market).get("MarketPaused")
    started = paused["blockNumber"]
    began = market.w3.eth.get_block(started)["timestamp"]
    assert paused["args"]["until"] == began + MAX_PAUSE
    frozen = market.market_time()
    advance_time(market, MAX_PAUSE + 100)
    assert not market.paused()  # lapsed without an unpause
    assert market.market_time() - frozen == market.w3.eth.get_block("latest")["timestamp"] - (
        began + MAX_PAUSE
    )  # the clock stopped for exactly the longest pause, then ran on
    market.with_signer(actors.contributors[0]).claim(task_id)  # the market works again
    with pytest.raises(errors.PauseCoolingDown) as e:
        market.pause()
    ready_at = began + 2 * MAX_PAUSE
    assert e.value.fields == {"readyAt": ready_at}
    market.unpause()  # records the lapsed pause: seven days, not more
    (unpaused,) = EventReader(market).get("MarketUnpaused")
    assert unpaused["args"]["pausedSeconds"] == MAX_PAUSE
    with pytest.raises(errors.PauseCoolingDown):
        market.pause()
    now = market.w3.eth.get_block("latest")["timestamp"]
    advance_time(market, ready_at - now)
    market.pause()  # a week after the last pause ended: allowed again
    market.unpause()
    with pytest.raises(errors.PauseCoolingDown):  # and each pause starts a new cool-down
        market.pause()
    assert market.task(task_id).status is TaskStatus.OPEN
    _wind_down(market, actors)
