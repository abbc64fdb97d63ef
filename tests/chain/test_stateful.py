"""Random sequences of market actions from several accounts, checked after every step.

Every action's outcome is predicted from the market's views just before it: an action the
contract must accept has to succeed, and one it must refuse has to revert with the predicted
error. A random run must see successes, and a scripted lifecycle through the same rules must see
every rule succeed, so neither can pass by reverting. The chain clock moves only in the ``wait``
rule (anvil's block timestamp interval is 0), so what the views say at the latest block holds for
the next transaction.

Invariants: the contract's balance equals what it owes (escrow + reserved + refunds + bonds of
every task, plus every withdrawable balance); no reward is booked twice; nobody withdraws more
than was booked to them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from eth_account.signers.local import LocalAccount
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
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.errors import ContractRevertError
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import (
    RoundInfo,
    RoundPhase,
    SlashReason,
    TaskInfo,
    TaskStatus,
    Timing,
)
from tests.chain.helpers import ETHER
from tests.conftest import Actors

TIMING = Timing(submit=100, reveal=100, merge=100, challenge=100)
BOND = ETHER // 10
SUCCESS = "ok"
MUST_SUCCEED = (
    "create", "fund", "claim", "commit", "reveal", "post", "claim_reward", "slash",
    "challenge", "resolve", "close", "claim_refund", "release_bond", "withdraw",
)  # fmt: skip


def _challenged(info: RoundInfo) -> bool:
    """Whether the round awaits the owner's ruling (status ``Challenged`` in the contract)."""
    return info.phase is RoundPhase.CHALLENGE and int(info.challenger, 16) != 0


def _anvil(connection: Connection, method: str, params: list[object]) -> None:
    """An anvil RPC whose failure fails the test (a silently ignored one would skew time)."""
    response = connection.w3.provider.make_request(method, params)
    assert "error" not in response, f"{method}: {response['error']}"


@pytest.fixture
def frozen_clock(connection: Connection) -> Iterator[None]:
    """New blocks keep the latest block's timestamp until the ``wait`` rule moves it."""
    _anvil(connection, "anvil_setBlockTimestampInterval", [0])
    yield
    _anvil(connection, "anvil_removeBlockTimestampInterval", [])


def _market_machine(
    connection: Connection, actors: Actors, outcomes: Counter[tuple[str, str]]
) -> type[RuleBasedStateMachine]:
    """The state machine over a fresh market; counts (rule, SUCCESS or error) into ``outcomes``."""
    people = [actors.sponsor, actors.funder, actors.challenger, *actors.contributors[:4]]

    class MarketMachine(RuleBasedStateMachine):
        @initialize()
        def deploy(self):
            record = deploy_market(connection, actors.owner, save=False)
            self.market = MarketClient(connection, record.address, actors.owner)
            self.start_block = record.block
            self.salts: dict[tuple[int, int, str], bytes] = {}
            self.trees: dict[tuple[int, int], CreditTree] = {}
            # Start from two live tasks with claimed slots, so short runs still exercise rounds.
            for rounds in (1, 2):
                sponsor = self.market.with_signer(actors.sponsor)
                task_id, _ = sponsor.create_task(
                    "bafyspec", actors.coordinator.address, rounds, 3 * ETHER, BOND, 3, TIMING
                )
                for who in people[3:5]:
                    self.market.with_signer(who).claim(task_id, BOND)

        def _expect(self, name: str, refusal: str | None, action: Callable[[], object]) -> None:
            """Run ``action``: it must succeed when ``refusal`` is None, else revert with it."""
            try:
                action()
            except ContractRevertError as e:
                outcomes[name, e.name] += 1
                assert e.name == refusal, f"{name}: expected {refusal or 'success'}, got {e}"
            else:
                outcomes[name, SUCCESS] += 1
                assert refusal is None, f"{name}: expected {refusal}, but it succeeded"

        def _tasks(self):
            return range(1, self.market.task_count() + 1)

        def _open(self, task: int) -> TaskInfo | None:
            """The task if it is open (most actions need that first), else None."""
            info = self.market.task(task)
            return info if info.status is TaskStatus.OPEN else None

        def _closable(self, task: int, info: TaskInfo, who: LocalAccount) -> bool:
            """The contract's ``_closable``, read through the views."""
            current = info.current_round
            posted = [self.market.round(task, r) for r in range(current)]
            if any(_challenged(r) for r in posted):
                return False
            if posted and posted[-1].phase not in (RoundPhase.FINAL, RoundPhase.VOIDED):
                return False
            if current == info.rounds:
                return True
            running = self.market.round(task, current)
            if who.address == info.sponsor and running.commits == 0:
                return True
            now = self.market.w3.eth.get_block("latest")["timestamp"]
            return now >= running.reveal_deadline + info.timing.merge

        @rule(who=st.sampled_from(people), bounty=st.integers(1, 5), rounds=st.integers(1, 2))
        def create(self, who, bounty, rounds):
            self._expect(
                "create",
                None,
                lambda: self.market.with_signer(who).create_task(
                    "bafyspec", actors.coordinator.address, rounds, bounty * ETHER, BOND, 3, TIMING
                ),
            )

        @rule(who=st.sampled_from(people), task=st.integers(1, 2), amount=st.integers(1, 2))
        def fund(self, who, task, amount):
            refusal = None if self._open(task) else "TaskNotOpen"
            self._expect(
                "fund", refusal, lambda: self.market.with_signer(who).fund(task, amount * ETHER)
            )

        @rule(who=st.sampled_from(people), task=st.integers(1, 2))
        def claim(self, who, task):
            info = self._open(task)
            if info is None:
                refusal = "TaskNotOpen"
            elif self.market.contributor(task, who.address)["joined"]:
                refusal = "ClaimAlreadyJoined"
            elif info.contributor_count >= info.max_contributors:
                refusal = "ClaimTaskFull"
            else:
                refusal = None
            self._expect("claim", refusal, lambda: self.market.with_signer(who).claim(task, BOND))

        @rule(who=st.sampled_from(people), task=st.integers(1, 2), metric=st.integers(-5, 5))
        def commit(self, who, task, metric):
            round_ = self.market.task(task).current_round
            if self._open(task) is None:
                refusal = "TaskNotOpen"
            elif self.market.round(task, round_).phase is not RoundPhase.SUBMITTING:
                refusal = "RoundWrongPhase"
            elif not self.market.contributor(task, who.address)["joined"]:
                refusal = "ClaimNotContributor"
            elif self.market.submission(task, round_, who.address)["commitment"] != bytes(32):
                refusal = "SubmissionAlreadyCommitted"
            else:
                refusal = None

            def go():
                salt = os.urandom(32)
                c = commitment_for(task, round_, who.address, f"bafy{metric}", metric, salt)
                self.market.with_signer(who).commit(task, c)
                self.salts[(task, round_, who.address)] = salt + metric.to_bytes(
                    1, "big", signed=True
                )

            self._expect("commit", refusal, go)

        @rule(who=st.sampled_from(people), task=st.integers(1, 2))
        def reveal(self, who, task):
            round_ = self.market.task(task).current_round
            submission = self.market.submission(task, round_, who.address)
            if self._open(task) is None:
                refusal = "TaskNotOpen"
            elif self.market.round(task, round_).phase is not RoundPhase.REVEALING:
                refusal = "RoundWrongPhase"
            elif submission["commitment"] == bytes(32):
                refusal = "SubmissionNotCommitted"
            elif submission["revealed"]:
                refusal = "SubmissionAlreadyRevealed"
            else:
                refusal = None  # every commitment on chain is ours: its salt is known
            packed = self.salts.get((task, round_, who.address), bytes(33))
            metric = int.from_bytes(packed[32:], "big", signed=True)
            self._expect(
                "reveal",
                refusal,
                lambda: self.market.with_signer(who).reveal(
                    task, f"bafy{metric}", metric, packed[:32]
                ),
            )

        @rule(seconds=st.sampled_from([30, 101, 250]))
        def wait(self, seconds):
            now = self.market.w3.eth.get_block("latest")["timestamp"]
            _anvil(connection, "evm_setNextBlockTimestamp", [now + seconds])
            _anvil(connection, "evm_mine", [])

        @rule(task=st.integers(1, 2), share=st.integers(0, 100))
        def post(self, task, share):
            info = self.market.task(task)
            round_ = info.current_round
            if self._open(task) is None:
                refusal = "TaskNotOpen"
            elif self.market.round(task, round_).phase is not RoundPhase.MERGING:
                refusal = "RoundWrongPhase"
            else:
                refusal = None  # the credits below stay within the round's escrow share
            revealed = [
                p.address
                for p in people
                if self.market.submission(task, round_, p.address)["revealed"]
            ]
            budget = info.escrow // max(1, info.rounds - round_) * share // 100
            credits = [(a, budget // len(revealed)) for a in revealed] if revealed else []
            credits = [(a, v) for a, v in credits if v > 0]
            tree = CreditTree.of(credits) if credits else None

            def go():
                root = tree.root if tree else bytes(32)
                total = sum(v for _, v in credits)
                coordinator = self.market.with_signer(actors.coordinator)
                coordinator.post_round(task, "bafymerged", "bafyreport", root, total)
                if tree:
                    self.trees[(task, round_)] = tree

            self._expect("post", refusal, go)

        @rule(tree=st.integers(0, 7), leaf=st.integers(0, 7))
        def claim_reward(self, tree, leaf):
            if not self.trees:
                return
            task, round_ = key = sorted(self.trees)[tree % len(self.trees)]
            credits = self.trees[key].values
            account, amount = credits[leaf % len(credits)]
            if self.market.round(task, round_).phase is not RoundPhase.FINAL:
                refusal = "RoundWrongPhase"  # challenge window open, challenged or voided
            elif self.market.contributor(task, account)["rewarded_rounds"] >> round_ & 1:
                refusal = "RewardAlreadyClaimed"
            else:
                refusal = None
            proof = self.trees[key].proof(account)
            self._expect(
                "claim_reward",
                refusal,
                lambda: self.market.claim_reward(task, round_, account, amount, proof),
            )

        @rule(
            task=st.integers(1, 2),
            who=st.sampled_from(people),
            reason=st.sampled_from(SlashReason),
            previous_round=st.booleans(),
        )
        def slash(self, task, who, reason, previous_round):
            round_ = max(0, self.market.task(task).current_round - previous_round)
            slot = self.market.contributor(task, who.address)
            submission = self.market.submission(task, round_, who.address)
            if reason is SlashReason.TIMEOUT:
                phase = self.market.round(task, round_).phase
                justified = (
                    round_ >= slot["first_round"]
                    and not submission["revealed"]
                    and phase not in (RoundPhase.NONE, RoundPhase.SUBMITTING, RoundPhase.REVEALING)
                )
            else:
                justified = submission["revealed"]
            if self._open(task) is None:
                refusal = "TaskNotOpen"
            elif not slot["joined"]:
                refusal = "ClaimNotContributor"
            elif submission["slashed_mask"] >> reason & 1:
                refusal = "SlashAlreadyApplied"
            elif not justified:
                refusal = "SlashNotJustified"
            else:
                refusal = None
            coordinator = self.market.with_signer(actors.coordinator)
            self._expect(
                "slash", refusal, lambda: coordinator.slash(task, round_, who.address, reason)
            )

        @rule(task=st.integers(1, 2), who=st.sampled_from(people))
        def challenge(self, task, who):
            round_ = max(0, self.market.task(task).current_round - 1)
            info = self.market.round(task, round_)
            if self._open(task) is None:
                refusal = "TaskNotOpen"
            elif _challenged(info):
                refusal = "ChallengeAlreadyOpen"
            elif info.phase is not RoundPhase.CHALLENGE:
                refusal = "RoundWrongPhase"
            else:
                refusal = None
            self._expect(
                "challenge",
                refusal,
                lambda: self.market.with_signer(who).challenge(task, round_, "x", BOND),
            )

        @rule(task=st.integers(1, 2), upheld=st.booleans())
        def resolve(self, task, upheld):
            round_ = max(0, self.market.task(task).current_round - 1)
            refusal = None if _challenged(self.market.round(task, round_)) else "ChallengeNotOpen"
            self._expect(
                "resolve", refusal, lambda: self.market.resolve_challenge(task, round_, upheld)
            )

        @rule(task=st.integers(1, 2), who=st.sampled_from(people))
        def close_and_settle(self, task, who):
            signer = self.market.with_signer(who)
            info = self._open(task)
            if info is None:
                refusal = "TaskNotOpen"
            else:
                refusal = None if self._closable(task, info, who) else "TaskNotClosable"
            self._expect("close", refusal, lambda: signer.close_task(task))
            closed = self.market.task(task).status is TaskStatus.CLOSED
            if not closed:
                refusal = "TaskNotClosed"
            else:
                refusal = None if self.market.funded_by(task, who.address) else "NothingToPay"
            self._expect("claim_refund", refusal, lambda: signer.claim_refund(task))
            if not closed:
                refusal = "TaskNotClosed"
            else:
                bond = self.market.contributor(task, who.address)["bond"]
                refusal = None if bond else "NothingToPay"
            self._expect("release_bond", refusal, lambda: signer.release_bond(task))

        @rule(who=st.sampled_from(people))
        def withdraw(self, who):
            refusal = None if self.market.withdrawable(who.address) else "NothingToPay"
            self._expect("withdraw", refusal, lambda: self.market.with_signer(who).withdraw())

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

    return MarketMachine


def test_random_action_sequences_keep_the_books_balanced(connection, actors, frozen_clock):
    outcomes: Counter[tuple[str, str]] = Counter()
    run_state_machine_as_test(
        _market_machine(connection, actors, outcomes),
        settings=settings(
            # Each step is a few real transactions on anvil (~0.1 s with the invariant check);
            # MAGNET_STATEFUL_EXAMPLES raises the count for a longer soak.
            max_examples=int(os.environ.get("MAGNET_STATEFUL_EXAMPLES", "20")),
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    successes = sum(n for (_, outcome), n in outcomes.items() if outcome == SUCCESS)
    assert successes > 0, f"every action reverted: {sorted(outcomes.items())}"


def test_a_scripted_lifecycle_succeeds_in_every_rule(connection, actors, frozen_clock):
    """Task 1 (one round) from claim to withdrawal through the machine's rules, whose predictions
    must agree at every step; the random run need not reach all of them."""
    outcomes: Counter[tuple[str, str]] = Counter()
    machine = _market_machine(connection, actors, outcomes)()
    a, b, c = actors.contributors[:3]  # a and b hold slots from `deploy`
    machine.deploy()
    machine.create(who=actors.sponsor, bounty=1, rounds=1)
    machine.fund(who=actors.funder, task=1, amount=1)
    machine.claim(who=c, task=1)  # the last slot
    for metric, who in enumerate((a, b, c)):
        machine.commit(who=who, task=1, metric=metric)  # all committed: reveals open
    for who in (a, b):
        machine.reveal(who=who, task=1)
    machine.wait(seconds=250)  # past the reveal deadline: merging
    machine.slash(task=1, who=c, reason=SlashReason.TIMEOUT, previous_round=False)
    machine.post(task=1, share=100)
    machine.challenge(task=1, who=actors.challenger)
    machine.resolve(task=1, upheld=False)
    machine.claim_reward(tree=0, leaf=0)
    machine.close_and_settle(task=1, who=actors.funder)
    machine.close_and_settle(task=1, who=a)
    machine.withdraw(who=a)
    machine.books_balance()
    machine.teardown()
    never = [rule for rule in MUST_SUCCEED if not outcomes[rule, SUCCESS]]
    assert not never, f"never succeeded: {never}; outcomes: {sorted(outcomes.items())}"
