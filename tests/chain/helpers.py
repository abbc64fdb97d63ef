"""Test helpers for driving a market through its rounds on a real devnet."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from eth_account.signers.local import LocalAccount

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import (
    DisputeOutcome,
    HoldoutTerms,
    RoundPhase,
    SlashOrder,
    SlashRates,
    SlashReason,
    TaskStatus,
    Timing,
)

ETHER = 10**18
BOND = ETHER // 100
TIMING = Timing(submit=600, reveal=600, merge=600, challenge=600)
BPS = 10_000

#: A slash as tests write it: the contributor (an account or its address) and the reason.
Slash = tuple[LocalAccount | str, SlashReason]


def advance_time(client: MarketClient, seconds: int) -> None:
    """Move the devnet clock forward and mine a block."""
    client.w3.provider.make_request("evm_increaseTime", [seconds])
    client.w3.provider.make_request("evm_mine", [])


def validators(n: int) -> list[LocalAccount]:
    """``n`` devnet accounts no other role of ``tests/conftest.py``'s actors uses (15..19)."""
    assert n <= 5, "the session's anvil has 20 funded accounts; actors use 0..14"
    return [devnet_account(15 + i) for i in range(n)]


def stake_validators(market: MarketClient, accounts: Sequence[LocalAccount]) -> None:
    """Seat ``accounts`` on the validator panel, then let a second pass: only disputes opened
    after a validator staked (strictly later, in market time) count its vote."""
    for who in accounts:
        market.with_signer(who).stake_validator()
    advance_time(market, 1)


def create_task(
    market: MarketClient,
    sponsor: LocalAccount,
    coordinator: LocalAccount,
    rounds: int = 2,
    bounty: int = 10 * ETHER,
    bond: int = BOND,
    max_contributors: int = 5,
    timing: Timing = TIMING,
    rates: SlashRates | None = None,
    holdout: HoldoutTerms | None = None,
) -> int:
    task_id, _ = market.with_signer(sponsor).create_task(
        "bafkreispec",
        coordinator.address,
        rounds,
        bounty,
        bond,
        max_contributors,
        timing,
        rates,
        holdout,
    )
    return task_id


def submit(market: MarketClient, task_id: int, who: LocalAccount, cid: str, metric: int) -> bytes:
    """Commit; returns the salt to reveal with."""
    salt = os.urandom(32)
    round_ = market.task(task_id).current_round
    market.with_signer(who).commit(
        task_id, commitment_for(task_id, round_, who.address, cid, metric, salt)
    )
    return salt


def reveal(
    market: MarketClient, task_id: int, who: LocalAccount, cid: str, metric: int, salt: bytes
) -> None:
    market.with_signer(who).reveal(task_id, cid, metric, salt)


def stake_needed(market: MarketClient, task_id: int) -> int:
    """The coordinator stake posting the task's current round needs (``_requireBudgetAndStake``)."""
    task = market.task(task_id)
    return market.rules().stake_needed(task.escrow, task.rounds - task.current_round)


def stake_coordinator(market: MarketClient, coordinator: LocalAccount, task_id: int) -> int:
    """Top the coordinator's stake up to what the current round needs; returns the wei added."""
    missing = stake_needed(market, task_id) - market.task(task_id).coordinator_stake
    if missing <= 0:
        return 0
    market.with_signer(coordinator).stake_coordinator(task_id, missing)
    return missing


def slash_orders(slashes: Iterable[Slash]) -> list[SlashOrder]:
    """``slashes`` as the client takes them: (address, reason)."""
    return [(who if isinstance(who, str) else who.address, reason) for who, reason in slashes]


def post(
    market: MarketClient,
    coordinator: LocalAccount,
    task_id: int,
    tree: CreditTree | None = None,
    slashes: Sequence[Slash] = (),
    stake: bool = True,
) -> None:
    """The coordinator posts the current round: ``tree``'s credits (or none) and ``slashes``,
    first topping its stake up to what the round needs (unless ``stake`` is False)."""
    if stake:
        stake_coordinator(market, coordinator, task_id)
    root, total = (tree.root, tree.total) if tree else (bytes(32), 0)
    market.with_signer(coordinator).post_round(
        task_id, "bafymerged", "bafyreport", root, total, slash_orders(slashes)
    )


def balance_and_obligations(market: MarketClient, accounts: Iterable[str]) -> tuple[int, int]:
    """(contract balance, Σ held by tasks + validator stakes + Σ withdrawable of ``accounts``)."""
    tasks = range(1, market.task_count() + 1)
    held = sum(market.task(t).held + market.holdout(t).bond_held for t in tasks)
    owed = sum(market.withdrawable(a) for a in set(accounts))
    return market.balance(), held + market.validator_stake_total() + owed


def assert_books(market: MarketClient, accounts: Iterable[str]) -> None:
    """The market holds exactly what it owes: every task's holdings, the validators' stakes and
    the withdrawable balances of ``accounts`` (every account the test booked anything to)."""
    balance, owed = balance_and_obligations(market, accounts)
    assert balance == owed, f"balance {balance} != obligations {owed}"


def play_round(market: MarketClient, task_id: int, contributors: Sequence[LocalAccount]) -> None:
    """Claim (if needed), commit and reveal for each of ``contributors`` in the current round,
    outwaiting the phases of whoever else holds a slot, until the round is merging."""
    current = market.task(task_id).current_round
    for who in contributors:
        if not market.contributor(task_id, who.address)["joined"]:
            market.with_signer(who).claim(task_id)
    cids = {who.address: f"bafy{who.address[-4:]}" for who in contributors}
    salts = {
        who.address: submit(market, task_id, who, cids[who.address], 1) for who in contributors
    }
    if market.round(task_id, current).phase is RoundPhase.SUBMITTING:  # others did not commit
        advance_time(market, market.round(task_id, current).submit_deadline - market.market_time())
    for who in contributors:
        reveal(market, task_id, who, cids[who.address], 1, salts[who.address])
    if market.round(task_id, current).phase is RoundPhase.REVEALING:  # others did not reveal
        advance_time(market, market.round(task_id, current).reveal_deadline - market.market_time())
    assert market.round(task_id, current).phase in (RoundPhase.MERGING, RoundPhase.UNSEALING)


def run_round(
    market: MarketClient,
    actors,
    task_id: int,
    credits: Sequence[tuple[LocalAccount, int]],
    slashes: Sequence[Slash] = (),
) -> CreditTree | None:
    """Claim (if needed), submit and reveal for each credited contributor, then stake the
    coordinator and post the round with ``slashes``. Returns the credit tree (None if no credits).
    """
    play_round(market, task_id, [who for who, _ in credits])
    tree = CreditTree.of([(who.address, amount) for who, amount in credits]) if credits else None
    post(market, actors.coordinator, task_id, tree, slashes)
    return tree


def withdraw_everything(market: MarketClient, accounts: Iterable[LocalAccount]) -> None:
    """Every account with a withdrawable balance takes it."""
    for who in accounts:
        if market.withdrawable(who.address):
            market.with_signer(who).withdraw()


def settle_everything(market: MarketClient, people: Sequence[LocalAccount]) -> None:
    """Wind the market down and empty it: outwait every window, decide every dispute, close every
    task, book every dispute payout, refund, bond, coordinator and validator stake owed to
    ``people`` (everyone the test involved) and withdraw it all. Unclaimed credits expire back
    to the funders first, so nothing credited is left behind.

    After this the market's balance must be 0 (or the ether forced into it)."""
    longest = max(
        (market.task(t).timing for t in range(1, market.task_count() + 1)),
        key=lambda timing: sum(timing.as_tuple()),
        default=TIMING,
    )
    rules = market.rules()
    tasks = range(1, market.task_count() + 1)
    holdout_window = max((market.holdout(t).reveal_duration for t in tasks), default=0)
    advance_time(market, sum(longest.as_tuple()) + holdout_window + rules.vote_duration)
    for task_id in tasks:
        info = market.task(task_id)
        for round_ in range(info.current_round):
            dispute = market.dispute(task_id, round_)
            if dispute.outcome is DisputeOutcome.OPEN:
                market.resolve_dispute(task_id, round_)
    advance_time(market, rules.claim_window)  # from the last decision: every window is over
    for task_id in tasks:
        if market.task(task_id).status is TaskStatus.OPEN:
            market.close_task(task_id)
        info = market.task(task_id)
        for round_ in range(info.current_round):
            r = market.round(task_id, round_)
            outcome = market.dispute(task_id, round_).outcome
            overturned = outcome in (DisputeOutcome.OVERTURNED, DisputeOutcome.NO_QUORUM)
            if r.phase is RoundPhase.FINAL and r.total_credited > r.claimed_total:
                market.expire_credits(task_id, round_)
            for who in people:
                if market.stance(task_id, round_, who.address)["owed"]:
                    market.with_signer(who).claim_dispute_payout(task_id, round_)
                if overturned and market.submission(task_id, round_, who.address)["slashed_amount"]:
                    market.revert_slash(task_id, round_, who.address)
        for who in people:
            if market.funder_shares(task_id, who.address)[0]:
                market.with_signer(who).claim_refund(task_id)
            if market.contributor(task_id, who.address)["bond"]:
                market.with_signer(who).release_bond(task_id)
        if market.task(task_id).coordinator_stake:
            coordinator = next(p for p in people if p.address == info.coordinator)
            market.with_signer(coordinator).release_stake(task_id)
    for who in people:
        if market.validator(who.address)[0]:
            market.with_signer(who).unstake_validator()
    withdraw_everything(market, people)
