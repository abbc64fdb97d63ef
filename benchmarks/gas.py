"""Gas per market action on a real anvil, and how it scales with the number of contributors.

    python benchmarks/gas.py            # table
    python benchmarks/gas.py --json     # one JSON object
    python benchmarks/gas.py --contributors 100   # a quicker run

Targets (market v0.6.0, those of v0.4.0): claim ≤ 70k, commit ≤ 50k, reveal ≤ 70k, postRound
≤ 125k and the same for 10 and 1,000 contributors (with the coordinator's stake checked; no
slashes posted), claimReward ≤ 65k with a 1,000-leaf tree, vote ≤ 70k. Figures are gasUsed of
the transaction (including the 21k base), measured for the last contributor of each round;
``stakeCoordinator`` is the coordinator's first stake in a task, which every post needs.

A contributor's slots are reused round after round: ``commit`` and ``reveal`` are what it pays
in every round after its first (round 1 here); ``commit_first`` and ``reveal_first`` are its
first round's, which write the fresh slots (about 20k more each, once per task).
``claimReward_1000`` is a contributor claiming its own reward (paid at once);
``claimReward_1000_booked`` is anyone else claiming for it (booked to its withdrawable
balance, a fresh slot), which ``withdraw`` then pays.

The dispute figures come from the 10-contributor round, challenged at once and decided by two
validators who vote for the posted result: ``stake`` is a validator's stakeValidator,
``challenge`` the challenge that opens the dispute, ``vote_first`` the dispute's first vote (it
records the leading candidate), ``vote`` the second vote, for the candidate already leading (the
typical vote), and ``resolveDispute`` the decision (the posted result held).

The sealed-holdout figures come from a two-round task with one contributor: ``createTask_sealed``
(the head and the bond beside the bounty), ``revealHoldout`` (round 0's key, one hash back to
the head; the bond booked back to the sponsor), ``postRound_sealed`` (round 0, its key on chain)
and ``postRound_forfeit`` (round 1, its key missed: the bond joins the budget).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import HoldoutTerms, Timing
from magnet_market.config import Network
from magnet_market.datasets.seal import chain_head, key_chain, new_seed

TARGETS = {
    "claim": 70_000,
    "commit": 50_000,
    "reveal": 70_000,
    "postRound_10": 125_000,
    "postRound_1000": 125_000,
    "claimReward_1000": 65_000,
    "vote": 70_000,
}

#: Every round's timing: an hour per phase, a minute to challenge.
TIMING = Timing(3600, 3600, 3600, 60)
BOND = 10**16


def _funded_accounts(client: MarketClient, n: int) -> list[LocalAccount]:
    accounts = [Account.create() for _ in range(n)]
    for a in accounts:
        client.w3.provider.make_request("anvil_setBalance", [a.address, hex(10**20)])
    return accounts


def _commit_and_reveal(
    client: MarketClient, task_id: int, round_: int, people: list[LocalAccount]
) -> tuple[int, int]:
    """Every contributor commits, then reveals; the gas of the last commit and reveal."""
    salts = {who.address: os.urandom(32) for who in people}
    for who in people:
        c = commitment_for(task_id, round_, who.address, "bafkreickpt", 10**18, salts[who.address])
        commit = int(client.with_signer(who).commit(task_id, c)["gasUsed"])
    for who in people:
        receipt = client.with_signer(who).reveal(task_id, "bafkreickpt", 10**18, salts[who.address])
        reveal = int(receipt["gasUsed"])
    return commit, reveal


def run_round(
    client: MarketClient, coordinator: LocalAccount, n: int, leaves: int
) -> tuple[dict[str, int], CreditTree, int, list[LocalAccount]]:
    """A task whose round 0 has ``n`` contributors and a credit tree of ``leaves`` leaves, and
    whose contributors then commit and reveal in round 1.

    Returns the gas of the last claim, of the last commit and reveal of round 0 (``_first``: a
    contributor's first, writing fresh slots) and of round 1 (every later round), of the
    coordinator's stake and of postRound; the tree, the task id and the contributors.
    """
    sponsor = client.signer
    assert sponsor is not None
    task_id, receipt = client.create_task(
        "bafkreispec", coordinator.address, 2, 10**21, BOND, n, TIMING
    )
    gas = {"createTask": int(receipt["gasUsed"])}
    people = _funded_accounts(client, n)
    for who in people:
        gas["claim"] = int(client.with_signer(who).claim(task_id, BOND)["gasUsed"])
    gas["commit_first"], gas["reveal_first"] = _commit_and_reveal(client, task_id, 0, people)
    credited = [(p.address, 10**15) for p in people]
    credited += [(Account.create().address, 10**15) for _ in range(max(0, leaves - n))]
    tree = CreditTree.of(credited)
    total = sum(v for _, v in credited)
    task = client.task(task_id)
    budget = task.escrow // (task.rounds - task.current_round)
    stake = budget * client.rules().coordinator_stake_bps // 10_000
    receipt = client.with_signer(coordinator).stake_coordinator(task_id, stake)
    gas["stakeCoordinator"] = int(receipt["gasUsed"])
    receipt = client.with_signer(coordinator).post_round(
        task_id, "bafkreimerged", "bafkreireport", tree.root, total
    )
    gas["postRound"] = int(receipt["gasUsed"])
    gas["commit"], gas["reveal"] = _commit_and_reveal(client, task_id, 1, people)
    return gas, tree, task_id, people


def _advance(client: MarketClient, seconds: int) -> None:
    client.w3.provider.make_request("evm_increaseTime", [seconds])
    client.w3.provider.make_request("evm_mine", [])


def dispute(
    client: MarketClient, task_id: int, challenger: LocalAccount, panel: list[LocalAccount]
) -> dict[str, int]:
    """Challenge round 0 of ``task_id`` (in its window) and have ``panel`` (staked before the
    post) vote for the posted result; then decide it. Returns the gas of each step."""
    posted = client.round(task_id, 0)
    gas = {
        "challenge": int(client.with_signer(challenger).challenge(task_id, 0, "bafy")["gasUsed"])
    }
    ballot = (posted.credits_root, posted.total_credited, posted.slashes_digest, "bafyreport")
    votes = [int(client.with_signer(v).vote(task_id, 0, *ballot)["gasUsed"]) for v in panel]
    gas["vote_first"], gas["vote"] = votes[0], votes[1]
    _advance(client, client.rules().vote_duration)
    gas["resolveDispute"] = int(client.resolve_dispute(task_id, 0)["gasUsed"])
    return gas


def sealed_rounds(client: MarketClient, coordinator: LocalAccount) -> dict[str, int]:
    """A sealed two-round task: round 0's key revealed, round 1's missed (see the docstring)."""
    keys = key_chain(new_seed(), 2)
    terms = HoldoutTerms(chain_head(keys), 600, BOND)
    task_id, receipt = client.create_task(
        "bafkreispec", coordinator.address, 2, 10**21, BOND, 1, TIMING, holdout=terms
    )
    gas = {"createTask_sealed": int(receipt["gasUsed"])}
    (who,) = _funded_accounts(client, 1)
    client.with_signer(who).claim(task_id, BOND)
    coordinator_client = client.with_signer(coordinator)
    task = client.task(task_id)
    stake = task.escrow * client.rules().coordinator_stake_bps // 10_000  # the last round's
    coordinator_client.stake_coordinator(task_id, stake)
    for round_, name in ((0, "postRound_sealed"), (1, "postRound_forfeit")):
        _commit_and_reveal(client, task_id, round_, [who])
        if round_ == 0:
            gas["revealHoldout"] = int(client.reveal_holdout(task_id, keys[0])["gasUsed"])
        else:
            _advance(client, TIMING.submit + TIMING.reveal + 600)  # past the key's window
        tree = CreditTree.of([(who.address, 10**15)])
        receipt = coordinator_client.post_round(
            task_id, "bafkreimerged", "bafkreireport", tree.root, tree.total
        )
        gas[name] = int(receipt["gasUsed"])
    return gas


def measure(contributors: int = 1000, leaves: int = 1000) -> dict[str, int]:
    """Every figure of the gas table, on a fresh devnet."""
    with Devnet(accounts=5) as node:
        conn = Connection(Network("devnet", node.url, node.chain_id))
        owner, coordinator = devnet_account(0), devnet_account(1)
        challenger, panel = devnet_account(2), [devnet_account(3), devnet_account(4)]
        record = deploy_market(conn, owner, save=False)
        client = MarketClient(conn, record.address, owner)
        stake = [int(client.with_signer(v).stake_validator()["gasUsed"]) for v in panel]
        _advance(client, 1)  # only disputes opened after a validator staked count its vote
        small, _, small_task, _ = run_round(client, coordinator, 10, 10)
        disputed = dispute(client, small_task, challenger, panel)  # within the 60 s window
        sealed = sealed_rounds(client, coordinator)
        big, tree, task_id, people = run_round(client, coordinator, contributors, leaves)
        _advance(client, TIMING.challenge + 1)
        own, other = people[-1], people[-2]
        receipt = client.with_signer(own).claim_reward(
            task_id, 0, own.address, 10**15, tree.proof(own.address)
        )
        claim_reward = int(receipt["gasUsed"])
        receipt = client.claim_reward(task_id, 0, other.address, 10**15, tree.proof(other.address))
        claim_booked = int(receipt["gasUsed"])
        withdraw = int(client.with_signer(other).withdraw()["gasUsed"])
    return {
        "createTask": small["createTask"],
        "claim": big["claim"],
        "commit": big["commit"],
        "commit_first": big["commit_first"],
        "reveal": big["reveal"],
        "reveal_first": big["reveal_first"],
        "stakeCoordinator": small["stakeCoordinator"],
        "postRound_10": small["postRound"],
        f"postRound_{contributors}": big["postRound"],
        f"claimReward_{leaves}": claim_reward,
        f"claimReward_{leaves}_booked": claim_booked,
        "withdraw": withdraw,
        "stake": stake[-1],
        **disputed,
        **sealed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--contributors", type=int, default=1000, help="contributors in a round")
    args = parser.parse_args()
    started = time.monotonic()
    figures = measure(args.contributors, args.contributors)
    if args.json:
        print(json.dumps(figures))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"gas per action ({time.monotonic() - started:.0f} s on anvil)")
    for col in ("action", "gas", "target", ""):
        table.add_column(col)
    for action, gas in figures.items():
        target = TARGETS.get(action)
        verdict = "" if target is None else ("[green]ok" if gas <= target else "[red]over")
        table.add_row(action, f"{gas:,}", f"≤ {target:,}" if target else "", verdict)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
