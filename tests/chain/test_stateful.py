"""Random sequences of market actions from several accounts, checked after every step.

Invariants: the contract's balance equals what it owes (escrow + reserved + refunds + bonds of
every task, plus every withdrawable balance); no reward is booked twice; nobody withdraws more
than was booked to them.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.errors import ContractRevertError
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import SlashReason, Timing
from tests.chain.helpers import ETHER, advance_time

TIMING = Timing(submit=100, reveal=100, merge=100, challenge=100)
BOND = ETHER // 10


def test_random_action_sequences_keep_the_books_balanced(connection, actors):
    people = [actors.sponsor, actors.funder, actors.challenger, *actors.contributors[:4]]

    class MarketMachine(RuleBasedStateMachine):
        @initialize()
        def deploy(self):
            record = deploy_market(connection, actors.owner, save=False)
            self.market = MarketClient(connection, record.address, actors.owner)
            self.start_block = record.block
            self.salts: dict[tuple[int, int, str], bytes] = {}
            self.trees: dict[tuple[int, int], CreditTree] = {}
            self.reverts = Counter()
            # Start from two live tasks with claimed slots, so short runs still exercise rounds.
            for rounds in (1, 2):
                sponsor = self.market.with_signer(actors.sponsor)
                task_id, _ = sponsor.create_task(
                    "bafyspec", actors.coordinator.address, rounds, 3 * ETHER, BOND, 3, TIMING
                )
                for who in people[3:5]:
                    self.market.with_signer(who).claim(task_id, BOND)

        def _try(self, action):
            try:
                action()
            except ContractRevertError as e:
                self.reverts[e.name] += 1  # random actions may be invalid; state must stay sound

        def _tasks(self):
            return range(1, self.market.task_count() + 1)

        @rule(who=st.sampled_from(people), bounty=st.integers(1, 5), rounds=st.integers(1, 2))
        def create(self, who, bounty, rounds):
            self.market.with_signer(who).create_task(
                "bafyspec", actors.coordinator.address, rounds, bounty * ETHER, BOND, 3, TIMING
            )

        @rule(who=st.sampled_from(people), task=st.integers(1, 2), amount=st.integers(1, 2))
        def fund(self, who, task, amount):
            print("FUND", task)
            self._try(lambda: self.market.with_signer(who).fund(task, amount * ETHER))

        @rule(who=st.sampled_from(people), task=st.integers(1, 2))
        def claim(self, who, task):
            self._try(lambda: self.market.with_signer(who).claim(task, BOND))

        @rule(who=st.sampled_from(people), task=st.integers(1, 2), metric=st.integers(-5, 5))
        def commit(self, who, task, metric):
            def go():
                round_ = self.market.task(task).current_round
                salt = os.urandom(32)
                cid = f"bafy{metric}"
                c = commitment_for(task, round_, who.address, cid, metric, salt)
                self.market.with_signer(who).commit(task, c)
                self.salts[(task, round_, who.address)] = salt + metric.to_bytes(
                    1, "big", signed=True
                )

            self._try(go)

        @rule(who=st.sampled_from(people), task=st.integers(1, 2))
        def reveal(self, who, task):
            def go():
                round_ = self.market.task(task).current_round
                packed = self.salts.get((task, round_, who.address), bytes(33))
                metric = int.from_bytes(packed[32:], "big", signed=True)
                self.market.with_signer(who).reveal(task, f"bafy{metric}", metric, packed[:32])

            self._try(go)

        @rule(seconds=st.sampled_from([30, 101, 250]))
        def wait(self, seconds):
            advance_time(self.market, seconds)

        @rule(task=st.integers(1, 2), share=st.integers(0, 100))
        def post(self, task, share):
            def go():
                info = self.market.task(task)
                round_ = info.current_round
                revealed = [
                    p.address
                    for p in people
                    if self.market.submission(task, round_, p.address)["revealed"]
                ] if round_ < info.rounds else []  # fmt: skip
                budget = info.escrow // max(1, info.rounds - round_) * share // 100
                credits = [(a, budget // len(revealed)) for a in revealed] if revealed else []
                credits = [(a, v) for a, v in credits if v > 0]
                tree = CreditTree.of(credits) if credits else None
                root = tree.root if tree else bytes(32)
                total = sum(v for _, v in credits)
                coordinator = self.market.with_signer(actors.coordinator)
                coordinator.post_round(task, "bafymerged", "bafyreport", root, total)
                if tree:
                    self.trees[(task, round_)] = tree

            self._try(go)

        @rule(data=st.data())
        def claim_reward(self, data):
            if not self.trees:
                return
            key = data.draw(st.sampled_from(sorted(self.trees)))
            account, amount = data.draw(st.sampled_from(self.trees[key].values))
            proof = self.trees[key].proof(account)
            self._try(lambda: self.market.claim_reward(*key, account, amount, proof))

        @rule(
            task=st.integers(1, 2), who=st.sampled_from(people), reason=st.sampled_from(SlashReason)
        )
        def slash(self, task, who, reason):
            def go():
                round_ = self.market.task(task).current_round
                for r in (round_, max(0, round_ - 1)):
                    try:
                        self.market.with_signer(actors.coordinator).slash(
                            task, r, who.address, reason
                        )
                        return
                    except ContractRevertError:
                        continue

            self._try(go)

        @rule(task=st.integers(1, 2), who=st.sampled_from(people))
        def challenge(self, task, who):
            self._try(
                lambda: self.market.with_signer(who).challenge(
                    task, max(0, self.market.task(task).current_round - 1), "x", BOND
                )
            )

        @rule(task=st.integers(1, 2), upheld=st.booleans())
        def resolve(self, task, upheld):
            def go():
                current = self.market.task(task).current_round
                self.market.resolve_challenge(task, max(0, current - 1), upheld)

            self._try(go)

        @rule(task=st.integers(1, 2), who=st.sampled_from(people))
        def close_and_settle(self, task, who):
            signer = self.market.with_signer(who)
            self._try(lambda: signer.close_task(task))
            self._try(lambda: signer.claim_refund(task))
            self._try(lambda: signer.release_bond(task))

        @rule(who=st.sampled_from(people))
        def withdraw(self, who):
            self._try(lambda: self.market.with_signer(who).withdraw())

        @invariant()
        def books_balance(self):
            if not hasattr(self, "market"):
                return
            held = sum(self.market.task(t).held for t in self._tasks())
            owed = sum(self.market.withdrawable(p.address) for p in people)
            assert self.market.balance() == held + owed

        def teardown(self):
            if not hasattr(self, "market"):
                return
            reader = EventReader(self.market, from_block=self.start_block)
            claims = Counter(
                (e["args"]["taskId"], e["args"]["round"], e["args"]["account"])
                for e in reader.get("RewardClaimed")
            )
            assert all(n == 1 for n in claims.values()), "a reward was booked twice"
            booked = Counter()
            for name, key in (
                ("RewardClaimed", "account"),
                ("RefundClaimed", "funder"),
                ("BondReleased", "contributor"),
            ):
                for e in reader.get(name):
                    booked[e["args"][key]] += e["args"]["amount"]
            for e in reader.get("ChallengeResolved"):
                if e["args"]["upheld"]:
                    challenger = self.market.round(
                        e["args"]["taskId"], e["args"]["round"]
                    ).challenger
                    booked[challenger] += BOND
            withdrawn = Counter()
            for e in reader.get("Withdrawn"):
                withdrawn[e["args"]["account"]] += e["args"]["amount"]
            for account, amount in withdrawn.items():
                assert amount <= booked[account], f"{account} withdrew more than was booked"

    run_state_machine_as_test(
        MarketMachine,
        settings=settings(
            # Each step is a few real transactions on anvil (~0.1 s with the invariant check);
            # MAGNET_STATEFUL_EXAMPLES raises the count for a longer soak.
            max_examples=int(os.environ.get("MAGNET_STATEFUL_EXAMPLES", "20")),
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
