"""Random sequences of market actions from several accounts, checked after every step.

Every action's outcome is predicted from the market's views just before it: an action the
contract must accept has to succeed, and one it must refuse has to revert with the predicted
error. A random run must see successes, and a scripted lifecycle through the same rules must see
every rule succeed, so neither can pass by reverting. The chain clock moves only in the ``wait``
rule (anvil's block timestamp interval is 0), so what the views say at the latest block holds for
the next transaction.

The market has non-zero floors, and new tasks draw phases and bonds on both sides of them. Funders
come at any time, so refunds split among shares bought at different escrow values; each refund is
predicted from the funders' shares on chain. Ether forced in by ``selfdestruct`` is nobody's.

Invariants: the contract's balance is what it owes (escrow + reserved + refunds + bonds of every
task, plus every withdrawable balance) plus exactly the forced ether; once every task is settled
and everyone has withdrawn, the forced ether is all it holds (nothing is locked forever); no
reward is booked twice; nobody withdraws more than was booked to them.

``MAGNET_STATEFUL_EXAMPLES`` turns the random run into a soak: that many examples of
``SOAK_STEPS`` steps each, reporting the steps run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from magnet_market.chain.artifacts import load_artifact
from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.errors import ContractRevertError
from magnet_market.chain.events import EventReader
from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.types import (
    Floors,
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
FLOORS = Floors(submit=5, reveal=5, merge=5, challenge=2, claim_bond=ETHER // 100)
#: The floored parameters as ``Floors`` names them and as ``TaskBelowFloor`` does, in the order
#: ``_validateTask`` checks them.
FLOORED = (
    ("submit", "submitDuration"),
    ("reveal", "revealDuration"),
    ("merge", "mergeDuration"),
    ("challenge", "challengeDuration"),
    ("claim_bond", "claimBond"),
)
VIRTUAL_SHARES = 10**6  # the contract's share offset (with 1 virtual wei of escrow)
SOAK_EXAMPLES = os.environ.get("MAGNET_STATEFUL_EXAMPLES")
SOAK_STEPS = 200  # per example; ~2 KiB of choices, far below the 8 KiB Hypothesis allows one
SUCCESS = "ok"
MUST_SUCCEED = (
    "create", "fund", "claim", "commit", "reveal", "post", "claim_reward", "slash",
    "challenge", "resolve", "close", "claim_refund", "release_bond", "withdraw", "force",
)  # fmt: skip
MUST_REFUSE = (
    ("create", "TaskBelowFloor"),
    ("commit_zero", "SubmissionZeroCommitment"),
    ("fund", "TaskFundingClosed"),
)


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
    """The state machine over a fresh market; counts (rule, SUCCESS or error) into ``outcomes``
    (``teardown <rule>`` for the final settlement's actions)."""
    people = [actors.sponsor, actors.funder, actors.challenger, *actors.contributors[:4]]
    tasks = st.integers(1, 4)

    class MarketMachine(RuleBasedStateMachine):
        examples = 0
        steps = 0  # every step ends in `books_balance`, which counts it for the soak report

        @initialize()
        def deploy(self):
            MarketMachine.examples += 1
            record = deploy_market(connection, actors.owner, save=False, floors=FLOORS)
            self.market = MarketClient(connection, record.address, actors.owner)
            self.start_block = record.block
            forcer = load_artifact("ForceSend")
            factory = connection.w3.eth.contract(abi=forcer.abi, bytecode=forcer.bytecode)
            address = self.market.transact(factory.constructor())["contractAddress"]
            self.forcer = connection.w3.eth.contract(address=address, abi=forcer.abi)
            self.forced = 0
            self.settling = False
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

        def _expect(
            self,
            name: str,
            refusal: str | None,
            action: Callable[[], object],
            fields: dict[str, object] | None = None,
        ) -> None:
            """Run ``action``: it must succeed when ``refusal`` is None, else revert with it (and
            with ``fields`` among the error's, when given)."""
            key = f"teardown {name}" if self.settling else name
            try:
                action()
            except ContractRevertError as e:
                outcomes[key, e.name] += 1
                assert e.name == refusal, f"{name}: expected {refusal or 'success'}, got {e}"
                if fields:
                    assert {k: e.fields[k] for k in fields} == fields, f"{name}: got {e}"
            else:
                outcomes[key, SUCCESS] += 1
                assert refusal is None, f"{name}: expected {refusal}, but it succeeded"

        def _tasks(self):
            return range(1, self.market.task_count() + 1)

        def _pick(self, task: int) -> int:
            """Task ``task``, or an existing one in its place: created tasks get actions too."""
            return 1 + (task - 1) % self.market.task_count()

        def _open(self, task: int) -> TaskInfo | None:
            """The task if it is open (most actions need that first), else None."""
            info = self.market.task(task)
            return info if info.status is TaskStatus.OPEN else None

        def _advance(self, seconds: int) -> None:
            now = self.market.w3.eth.get_block("latest")["timestamp"]
            _anvil(connection, "evm_setNextBlockTimestamp", [now + seconds])
            _anvil(connection, "evm_mine", [])

        def _settled(self, task: int, info: TaskInfo) -> bool:
            """The contract's ``_postedRoundsSettled``: no challenge pending, the last posted
            round past its window."""
            posted = [self.market.round(task, r) for r in range(info.current_round)]
            if any(_challenged(r) for r in posted):
                return False
            return not posted or posted[-1].phase in (RoundPhase.FINAL, RoundPhase.VOIDED)

        def _closable(self, task: int, info: TaskInfo, who: LocalAccount) -> bool:
            """The contract's ``_closable``, read through the views."""
            if not self._settled(task, info):
                return False
            current = info.current_round
            if current == info.rounds:
                return True
            running = self.market.round(task, current)
            cancel = running.commits == 0 and running.phase is RoundPhase.SUBMITTING
            if who.address == info.sponsor and cancel:
                return True
            now = self.market.w3.eth.get_block("latest")["timestamp"]
            return now >= running.reveal_deadline + info.timing.merge

        def _commit_refusal(self, task: int, round_: int, who: LocalAccount, zero: bool):
            """What ``commitSubmission`` refuses first, in the contract's order of checks."""
            if self._open(task) is None:
                return "TaskNotOpen"
            if self.market.round(task, round_).phase is not RoundPhase.SUBMITTING:
                return "RoundWrongPhase"
            if not self.market.contributor(task, who.address)["joined"]:
                return "ClaimNotContributor"
            if zero:
                return "SubmissionZeroCommitment"
            if self.market.submission(task, round_, who.address)["commitment"] != bytes(32):
                return "SubmissionAlreadyCommitted"
            return None

        @rule(
            who=st.sampled_from(people),
            bounty=st.integers(1, 5),
            rounds=st.integers(1, 2),
            at_floor=st.booleans(),
            short=st.sets(st.sampled_from([name for name, _ in FLOORED]), max_size=2),
        )
        def create(self, who, bounty, rounds, at_floor, short):
            """Phases and bond at the floors (or well above), except one below in each of
            ``short``: the first of those in the contract's order is the one it names."""
            usual = {**asdict(TIMING), "claim_bond": BOND}
            values = {
                name: getattr(FLOORS, name) - (name in short)
                if at_floor or name in short
                else usual[name]
                for name, _ in FLOORED
            }
            timing = Timing(**{name: values[name] for name in asdict(TIMING)})
            bond = values["claim_bond"]
            below = [
                {"parameter": parameter, "value": values[name], "floor": getattr(FLOORS, name)}
                for name, parameter in FLOORED
                if name in short
            ]
            self._expect(
                "create",
                "TaskBelowFloor" if below else None,
                lambda: self.market.with_signer(who).create_task(
                    "bafyspec", actors.coordinator.address, rounds, bounty * ETHER, bond, 3, timing
                ),
                below[0] if below else None,
            )

        @rule(
            who=st.sampled_from(people),
            task=tasks,
            amount=st.sampled_from([ETHER, 2 * ETHER, 1]),
        )
        def fund(self, who, task, amount):
            """Any time, any amount: a late funder buys shares at the escrow's value then."""
            task = self._pick(task)
            info = self.market.task(task)
            minted = amount * (info.total_shares + VIRTUAL_SHARES) // (info.escrow + 1)
            if info.status is not TaskStatus.OPEN:
                refusal = "TaskNotOpen"
            elif info.current_round == info.rounds:
                refusal = "TaskFundingClosed"  # only refunds or others' slashes are left to buy
            elif not self._settled(task, info):
                refusal = "TaskFundingWaitsForChallenges"  # posted credits may still come back
            elif minted == 0:
                refusal = "EscrowFundingTooSmall"
            else:
                refusal = None
            shares, _ = self.market.funder_shares(task, who.address)
            self._expect("fund", refusal, lambda: self.market.with_signer(who).fund(task, amount))
            if refusal is None:
                assert self.market.funder_shares(task, who.address)[0] == shares + minted

        @rule(who=st.sampled_from(people), task=tasks)
        def claim(self, who, task):
            task = self._pick(task)
            info = self.market.task(task)
            if info.status is not TaskStatus.OPEN:
                refusal = "TaskNotOpen"
            elif self.market.contributor(task, who.address)["joined"]:
                refusal = "ClaimAlreadyJoined"
            elif info.contributor_count >= info.max_contributors:
                refusal = "ClaimTaskFull"
            else:
                refusal = None
            self._expect(
                "claim", refusal, lambda: self.market.with_signer(who).claim(task, info.claim_bond)
            )

        @rule(who=st.sampled_from(people), task=tasks, metric=st.integers(-5, 5))
        def commit(self, who, task, metric):
            task = self._pick(task)
            round_ = self.market.task(task).current_round
            refusal = self._commit_refusal(task, round_, who, zero=False)

            def go():
                salt = os.urandom(32)
                c = commitment_for(task, round_, who.address, f"bafy{metric}", metric, salt)
                self.market.with_signer(who).commit(task, c)
                self.salts[(task, round_, who.address)] = salt + metric.to_bytes(
                    1, "big", signed=True
                )

            self._expect("commit", refusal, go)

        @rule(who=st.sampled_from(people), task=tasks)
        def commit_zero(self, who, task):
            """A zero commitment binds nothing, yet would count toward opening reveals early."""
            task = self._pick(task)
            round_ = self.market.task(task).current_round
            refusal = self._commit_refusal(task, round_, who, zero=True)
            commits = self.market.round(task, round_).commits
            self._expect(
                "commit_zero", refusal, lambda: self.market.with_signer(who).commit(task, bytes(32))
            )
            assert self.market.round(task, round_).commits == commits

        @rule(who=st.sampled_from(people), task=tasks)
        def reveal(self, who, task):
            task = self._pick(task)
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

        @rule(seconds=st.sampled_from([3, 30, 101, 250]))
        def wait(self, seconds):
            """Short enough to stop inside the floors' phases, long enough to pass the usual."""
            self._advance(seconds)

        @rule(task=tasks, share=st.integers(0, 100))
        def post(self, task, share):
            task = self._pick(task)
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
            self._claim_reward(sorted(self.trees)[tree % len(self.trees)], leaf)

        def _claim_reward(self, key: tuple[int, int], leaf: int) -> None:
            task, round_ = key
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
            task=tasks,
            who=st.sampled_from(people),
            reason=st.sampled_from(SlashReason),
            previous_round=st.booleans(),
        )
        def slash(self, task, who, reason, previous_round):
            task = self._pick(task)
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

        @rule(task=tasks, who=st.sampled_from(people))
        def challenge(self, task, who):
            task = self._pick(task)
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
                lambda: self.market.with_signer(who).challenge(task, round_, "x"),
            )

        @rule(task=tasks, upheld=st.booleans())
        def resolve(self, task, upheld):
            task = self._pick(task)
            self._resolve(task, max(0, self.market.task(task).current_round - 1), upheld)

        def _resolve(self, task: int, round_: int, upheld: bool) -> None:
            refusal = None if _challenged(self.market.round(task, round_)) else "ChallengeNotOpen"
            self._expect(
                "resolve", refusal, lambda: self.market.resolve_challenge(task, round_, upheld)
            )

        @rule(task=tasks, who=st.sampled_from(people))
        def close_and_settle(self, task, who):
            task = self._pick(task)
            self._close(task, who)
            self._claim_refund(task, who)
            self._release_bond(task, who)

        def _close(self, task: int, who: LocalAccount) -> None:
            info = self._open(task)
            if info is None:
                refusal = "TaskNotOpen"
            else:
                refusal = None if self._closable(task, info, who) else "TaskNotClosable"
            self._expect("close", refusal, lambda: self.market.with_signer(who).close_task(task))
            if refusal is None:  # the refund pool is split over exactly the funders' shares
                held = sum(self.market.funder_shares(task, p.address)[0] for p in people)
                assert held == info.total_shares

        def _claim_refund(self, task: int, who: LocalAccount) -> None:
            """The refund is the funder's shares' part of what remains, predicted to the wei."""
            info = self.market.task(task)
            shares, _ = self.market.funder_shares(task, who.address)
            if info.status is not TaskStatus.CLOSED:
                refusal = "TaskNotClosed"
            else:
                refusal = None if shares else "NothingToPay"
            booked = self.market.withdrawable(who.address)
            self._expect(
                "claim_refund", refusal, lambda: self.market.with_signer(who).claim_refund(task)
            )
            if refusal is None:
                # Every funder is one of `people`, so their unclaimed shares are all that remain
                # (when `who` holds all of them, it takes the whole rest, dust included).
                remaining = shares + sum(
                    self.market.funder_shares(task, p.address)[0] for p in people
                )
                amount = info.refund_remaining * shares // remaining
                assert self.market.withdrawable(who.address) == booked + amount
                assert self.market.task(task).refund_remaining == info.refund_remaining - amount

        def _release_bond(self, task: int, who: LocalAccount) -> None:
            if self.market.task(task).status is not TaskStatus.CLOSED:
                refusal = "TaskNotClosed"
            else:
                bond = self.market.contributor(task, who.address)["bond"]
                refusal = None if bond else "NothingToPay"
            self._expect(
                "release_bond", refusal, lambda: self.market.with_signer(who).release_bond(task)
            )

        @rule(who=st.sampled_from(people))
        def withdraw(self, who):
            refusal = None if self.market.withdrawable(who.address) else "NothingToPay"
            self._expect("withdraw", refusal, lambda: self.market.with_signer(who).withdraw())

        @rule(who=st.sampled_from(people), amount=st.sampled_from([1, ETHER // 3]))
        def force(self, who, amount):
            """Ether that no function took (a selfdestruct's) is nobody's: a surplus."""
            send = self.forcer.functions.send(self.market.address)
            signer = self.market.with_signer(who)
            self._expect("force", None, lambda: signer.transact(send, value=amount))
            self.forced += amount

        @invariant()
        def books_balance(self):
            """The balance covers the books with exactly the forced ether to spare: nothing
            owed is missing, nothing is counted twice, and no forced wei is anybody's."""
            if not hasattr(self, "market"):
                return
            MarketMachine.steps += 1
            held = sum(self.market.task(t).held for t in self._tasks())
            owed = sum(self.market.withdrawable(p.address) for p in people)
            assert self.market.balance() - (held + owed) == self.forced

        def _settle(self) -> None:
            """Settle every challenge, outwait every deadline, close every task, book everything
            due and withdraw it: only the forced ether may stay, or money is locked forever."""
            self.settling = True
            for task in self._tasks():
                for round_ in range(self.market.task(task).current_round):
                    if _challenged(self.market.round(task, round_)):
                        self._resolve(task, round_, upheld=False)
            self._advance(sum(TIMING.as_tuple()))  # every phase of every task, and more
            for task in self._tasks():
                if self._open(task):
                    self._close(task, actors.owner)
            for key, tree in sorted(self.trees.items()):
                for leaf in range(len(tree.values)):
                    self._claim_reward(key, leaf)
            for task in self._tasks():
                for who in people:
                    if self.market.funder_shares(task, who.address)[0]:
                        self._claim_refund(task, who)
                    if self.market.contributor(task, who.address)["bond"]:
                        self._release_bond(task, who)
            for who in people:
                if self.market.withdrawable(who.address):
                    self.withdraw(who)
            assert self.market.balance() == self.forced, "money is left locked in the market"

        def teardown(self):
            if not hasattr(self, "market"):
                return
            self._settle()
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
                    challenged = self.market.round(e["args"]["taskId"], e["args"]["round"])
                    booked[challenged.challenger] += challenged.challenge_bond
            withdrawn = Counter()
            for e in reader.get("Withdrawn"):
                withdrawn[e["args"]["account"]] += e["args"]["amount"]
            for account, amount in withdrawn.items():
                assert amount <= booked[account], f"{account} withdrew more than was booked"

    return MarketMachine


@pytest.mark.timeout(0 if SOAK_EXAMPLES else None)  # a soak takes as long as it takes
def test_random_action_sequences_keep_the_books_balanced(connection, actors, frozen_clock, capsys):
    outcomes: Counter[tuple[str, str]] = Counter()
    machine = _market_machine(connection, actors, outcomes)
    run_state_machine_as_test(
        machine,
        settings=settings(
            # Each step is a few real transactions on anvil (~0.1 s with the invariant check), and
            # each example ends by settling everything. Hypothesis makes its first 10 examples
            # tiny; each later one runs the full step count.
            max_examples=int(SOAK_EXAMPLES or 14),
            stateful_step_count=SOAK_STEPS if SOAK_EXAMPLES else 40,
            # No `target()` here: the target phase would only re-run long examples for its
            # Pareto front, doubling the time.
            phases=[p for p in Phase if p is not Phase.target],
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    successes = sum(
        n
        for (rule, outcome), n in outcomes.items()
        if outcome == SUCCESS and not rule.startswith("teardown ")
    )
    assert successes > 0, f"every action reverted: {sorted(outcomes.items())}"
    if SOAK_EXAMPLES:
        with capsys.disabled():
            print(f"\nsoak: {machine.steps} steps in {machine.examples} examples")
            for (rule, outcome), n in sorted(outcomes.items()):
                print(f"  {rule:24} {outcome:28} {n}")


def test_a_scripted_lifecycle_succeeds_in_every_rule(connection, actors, frozen_clock):
    """Task 1 (one round) from claim to withdrawal through the machine's rules, whose predictions
    must agree at every step; the random run need not reach all of them. The refusals new to the
    market are met once each, too."""
    outcomes: Counter[tuple[str, str]] = Counter()
    machine = _market_machine(connection, actors, outcomes)()
    a, b, c = actors.contributors[:3]  # a and b hold slots from `deploy`
    machine.deploy()
    machine.create(who=actors.sponsor, bounty=1, rounds=1, at_floor=True, short=set())
    machine.create(
        who=actors.sponsor, bounty=1, rounds=1, at_floor=False, short={"claim_bond", "reveal"}
    )
    machine.fund(who=actors.funder, task=1, amount=ETHER)
    machine.claim(who=c, task=1)  # the last slot
    machine.commit_zero(who=a, task=1)
    for metric, who in enumerate((a, b, c)):
        machine.commit(who=who, task=1, metric=metric)  # all committed: reveals open
    machine.fund(who=c, task=1, amount=1)  # a late funder, with a wei
    for who in (a, b):
        machine.reveal(who=who, task=1)
    machine.wait(seconds=250)  # past the reveal deadline: merging
    machine.slash(task=1, who=c, reason=SlashReason.TIMEOUT, previous_round=False)
    machine.post(task=1, share=100)
    machine.fund(who=actors.funder, task=1, amount=ETHER)  # every round is posted: closed
    machine.challenge(task=1, who=actors.challenger)
    machine.resolve(task=1, upheld=False)
    machine.claim_reward(tree=0, leaf=0)
    machine.force(who=actors.challenger, amount=ETHER // 3)
    machine.close_and_settle(task=1, who=actors.funder)
    machine.close_and_settle(task=1, who=a)
    machine.withdraw(who=a)
    machine.books_balance()
    machine.teardown()
    never = [rule for rule in MUST_SUCCEED if not outcomes[rule, SUCCESS]]
    assert not never, f"never succeeded: {never}; outcomes: {sorted(outcomes.items())}"
    unmet = [refusal for refusal in MUST_REFUSE if not outcomes[refusal]]
    assert not unmet, f"never refused: {unmet}; outcomes: {sorted(outcomes.items())}"
