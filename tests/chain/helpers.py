"""Test helpers for driving a market through its rounds on a real devnet."""

from __future__ import annotations

import os

from eth_account.signers.local import LocalAccount

from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import RoundPhase, SlashRates, Timing

ETHER = 10**18
BOND = ETHER // 100
TIMING = Timing(submit=600, reveal=600, merge=600, challenge=600)


def advance_time(client: MarketClient, seconds: int) -> None:
    """Move the devnet clock forward and mine a block."""
    client.w3.provider.make_request("evm_increaseTime", [seconds])
    client.w3.provider.make_request("evm_mine", [])


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
) -> int:
    task_id, _ = market.with_signer(sponsor).create_task(
        "bafkreispec", coordinator.address, rounds, bounty, bond, max_contributors, timing, rates
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


def balance_and_obligations(market: MarketClient, accounts: list[str]) -> tuple[int, int]:
    """(contract balance, Σ held by tasks + Σ withdrawable of ``accounts``)."""
    held = sum(market.task(t).held for t in range(1, market.task_count() + 1))
    owed = sum(market.withdrawable(a) for a in accounts)
    return market.balance(), held + owed


def run_round(market, actors, task_id, credits) -> CreditTree:
    """Claim (if needed), submit and reveal for each credited contributor, then post the round."""
    current = market.task(task_id).current_round
    for who, _ in credits:
        if not market.contributor(task_id, who.address)["joined"]:
            market.with_signer(who).claim(task_id)
    salts = {
        who.address: submit(market, task_id, who, f"bafy{who.address[-4:]}", 1)
        for who, _ in credits
    }
    if market.round(task_id, current).phase is RoundPhase.SUBMITTING:
        advance_time(market, TIMING.submit)
    for who, _ in credits:
        reveal(market, task_id, who, f"bafy{who.address[-4:]}", 1, salts[who.address])
    tree = CreditTree.of([(who.address, amount) for who, amount in credits])
    total = sum(amount for _, amount in credits)
    market.with_signer(actors.coordinator).post_round(
        task_id, "bafymerged", "bafyreport", tree.root, total
    )
    return tree
