"""Random sequences of market actions from several accounts, checked after every step.

Every action's outcome is predicted from the market's views and from the machine's own model
just before it: an action the contract must accept has to succeed, and one it must refuse has to
revert with the predicted error. A random run must see successes, and a scripted lifecycle through
the same rules must see every rule succeed, so neither can pass by reverting. The chain clock moves
only in the ``wait`` rule (anvil's block timestamp interval is 0), so what the views say at the
latest block holds for the next transaction.

The market has non-zero floors, and new tasks draw phases and bonds on both sides of them. Funders
come at any time, so refunds split among shares bought at different escrow values; each refund is
predicted from the funders' shares on chain. Ether forced in by ``selfdestruct`` is nobody's.

The coordinator stakes (or forgets to) before it posts, and posts slashes with its rounds, some
of them unjustified, and sometimes credits a slot that never revealed. Anyone challenges;
validators (staked before the dispute, or too late) vote for the posted result, for nothing, for
other credits, or for more than was posted; anyone resolves, books payouts and reverts slashes.
The model predicts every dispute's leader, outcome and payout to the wei. The owner pauses and
unpauses; the model keeps its own market clock (block time less paused time, a pause lapsing
after a week, a week of cool-down) and checks the contract's against it. A week-long wait lets
claim windows close, so unclaimed credits expire back to the funders.

Invariants: the contract's balance is what it owes (escrow + reserved + refunds + bonds + the
coordinator's stake of every task, the validators' stakes, plus every withdrawable balance) plus
exactly the forced ether; the market clock is the model's; once every task is settled and
everyone has withdrawn, the forced ether is all it holds (nothing is locked forever); no reward is
booked twice; nobody withdraws more than was booked to them.

``MAGNET_STATEFUL_EXAMPLES`` turns the random run into a soak: that many examples of
``SOAK_STEPS`` steps each, reporting the steps run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from hashlib import sha256

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
    DisputeOutcome,
    Floors,
    HoldoutInfo,
    HoldoutTerms,
    MarketRules,
    RoundPhase,
    SlashReason,
    TaskInfo,
    TaskStatus,
    Timing,
    candidate_key,
    slashes_digest,
)
from magnet_market.datasets.seal import chain_head, key_chain
from tests.chain.helpers import ETHER, validators
from tests.conftest import Actors

TIMING = Timing(submit=100, reveal=100, merge=100, challenge=100)
BOND = ETHER // 10
FLOORS = Floors(submit=5, reveal=5, merge=5, challenge=2, claim_bond=ETHER // 100)
#: A claim window a week-long wait outlasts, a vote shorter than the usual challenge window.
RULES = MarketRules(
    claim_window=400,
    vote_duration=40,
    validator_stake=ETHER // 10,
    quorum=1,
    coordinator_stake_bps=1_000,
)
MAX_PAUSE = 7 * 86_400  # the contract's MAX_PAUSE_DURATION
HOLDOUT_WINDOW = 50  # a sealed task's key window, after each round's reveal deadline
HOLDOUT_BOND = ETHER // 5  # per round
BPS = 10_000
WEEK_AND_A_BIT = MAX_PAUSE + 1
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
    "create", "fund", "claim", "commit", "reveal", "stake_coordinator", "post", "claim_reward",
    "stake_validator", "challenge", "vote", "resolve", "claim_dispute_payout", "revert_slash",
    "pause", "unpause", "expire_credits", "unstake_validator", "close", "claim_refund",
    "release_bond", "release_stake", "withdraw", "force", "reveal_holdout",
)  # fmt: skip
MUST_REFUSE = (
    ("create", "TaskBelowFloor"),
    ("commit_zero", "SubmissionZeroCommitment"),
    ("fund", "TaskFundingClosed"),
    ("post", "CoordinatorStakeTooLow"),
    ("vote", "VoterNotEligible"),
    ("resolve", "MarketIsPaused"),
    ("pause", "PauseCoolingDown"),
    ("reveal_holdout", "RoundWrongPhase"),
    ("reveal_holdout", "HoldoutKeyMismatch"),
    ("reveal_holdout", "HoldoutNotSealed"),
)
BALLOTS = ("posted", "none", "alt", "greedy")
#: How far ``deploy`` plays task 2's round 0 before the random steps. Hypothesis's first
#: examples draw the first of these and run few steps, so even they end (in the teardown) with a
#: dispute to decide, payouts to book, slashes to revert and credits to claim or expire.
STARTS = ("disputed", "posted", "merging", "fresh")


@dataclass
class Stance:
    challenged: bool = False
    vote: bytes = b""
    paid: bool = False


@dataclass
class DisputeModel:
    """One round's dispute as the machine predicts it (the contract's ``Dispute``)."""

    vote_deadline: int
    bond: int
    posted: bytes
    posted_total: int
    stances: dict[str, Stance] = field(default_factory=dict)
    tally: Counter[bytes] = field(default_factory=Counter)
    ballots: dict[bytes, tuple[bytes, int, CreditTree | None]] = field(default_factory=dict)
    challengers: int = 0
    votes: int = 0
    leader: bytes = bytes(32)
    leader_votes: int = 0
    tied: bool = False
    outcome: DisputeOutcome = DisputeOutcome.OPEN
    per_winner: int = 0

    def stance(self, account: str) -> Stance:
        return self.stances.setdefault(account, Stance())

    def owed(self, account: str) -> int:
        """The contract's ``_owed``, for a decided dispute."""
        s = self.stances.get(account, Stance())
        if s.paid or self.outcome is DisputeOutcome.OPEN:
            return 0
        win = self.bond + self.per_winner
        owed = 0
        if s.challenged:
            if self.outcome is DisputeOutcome.NO_QUORUM:
                owed += self.bond
            elif self.outcome is DisputeOutcome.OVERTURNED:
                owed += win
        if s.vote:
            if self.outcome is DisputeOutcome.NO_QUORUM:
                owed += self.bond
            elif s.vote == self.leader:
                owed += win
        return owed

    def add_vote(self, candidate: bytes) -> None:
        """The contract's tally: a candidate overtakes the leader only with more votes."""
        self.tally[candidate] += 1
        count = self.tally[candidate]
        self.votes += 1
        if candidate == self.leader:
            self.leader_votes, self.tied = count, False
        elif count > self.leader_votes:
            self.leader, self.leader_votes, self.tied = candidate, count, False
        elif count == self.leader_votes:
            self.tied = True


def _anvil(connection: Connection, method: str, params: list[object]) -> None:
    """An anvil RPC whose failure fails the test (a silently ignored one would skew time)."""
    response = connection.w3.provider.make_request(method, params)
    assert "error" not in response, f"{method}: {response['error']}"


@pytest.fixture
def frozen_clock(connection: Connection) -> Iterator[None]:
    """New blocks keep the latest block's timestamp until the ``wait`` rule moves it. Afterwards
    the node's clock resumes from the latest block (the waits set it weeks ahead of the wall
    clock, which would otherwise stop time for every later test on this node)."""
    _anvil(connection, "anvil_setBlockTimestampInterval", [0])
    yield
    _anvil(connection, "anvil_removeBlockTimestampInterval", [])
    latest = connection.w3.eth.get_block("latest")["timestamp"]
    behind = latest - int(time.time())
    if behind > 0:
        _anvil(connection, "evm_increaseTime", [behind + 1])
    _anvil(connection, "evm_mine", [])


def _market_machine(
    connection: Connection, actors: Actors, outcomes: Counter[tuple[str, str]]
) -> type[RuleBasedStateMachine]:
    """The state machine over a fresh market; counts (rule, SUCCESS or error) into ``outcomes``
    (``setup <rule>`` and ``teardown <rule>`` for the steps of ``deploy`` and of the final
    settlement)."""
    people = [actors.sponsor, actors.funder, actors.challenger, *actors.contributors[:4]]
    panel = validators(3)
    seats = [*panel, actors.challenger]  # who may stake as a validator
    everyone = [*people, *panel, actors.coordinator]
    tasks = st.integers(1, 4)
    picks = st.integers(0, 7)

    class MarketMachine(RuleBasedStateMachine):
        examples = 0
        steps = 0  # every step ends in `books_balance`, which counts it for the soak report

        @initialize(start=st.sampled_from(STARTS))
        def deploy(self, start="fresh"):
            """A fresh market with two live tasks (slots claimed in both; task 1's holdout sealed)
            and two validators; then task 2's round 0 played up to ``start``, so short runs reach
            every stage."""
            MarketMachine.examples += 1
            record = deploy_market(connection, actors.owner, save=False, floors=FLOORS, rules=RULES)
            self.market = MarketClient(connection, record.address, actors.owner)
            self.start_block = record.block
            forcer = load_artifact("ForceSend")
            factory = connection.w3.eth.contract(abi=forcer.abi, bytecode=forcer.bytecode)
            address = self.market.transact(factory.constructor())["contractAddress"]
            self.forcer = connection.w3.eth.contract(address=address, abi=forcer.abi)
            self.forced = 0
            self.stage: str | None = None  # "setup" or "teardown": counted apart
            self.salts: dict[tuple[int, int, str], bytes] = {}
            self.trees: dict[tuple[int, int], CreditTree] = {}
            self.disputes: dict[tuple[int, int], DisputeModel] = {}
            self.slashed: Counter[tuple[int, int, str]] = Counter()  # posted, not reverted
            self.sponsor_credits: Counter[str] = Counter()  # expired credits booked to sponsors
            self.stakes: dict[str, int] = {}  # validator → market time it staked
            self.keys: dict[int, list[bytes]] = {}  # sealed task → its holdout keys
            # The model's clock: block time less paused time.
            self.pause_began: int | None = None
            self.paused_total = 0
            self.last_pause_end = 0
            # Start from two live tasks with claimed slots, so short runs still exercise rounds,
            # and two validators seated before any dispute opens.
            for rounds in (1, 2):  # task 1's holdout is sealed
                sponsor = self.market.with_signer(actors.sponsor)
                keys = key_chain(sha256(f"task {rounds}".encode()).digest(), rounds)
                terms = HoldoutTerms(chain_head(keys), HOLDOUT_WINDOW, HOLDOUT_BOND)
                task_id, _ = sponsor.create_task(
                    "bafyspec",
                    actors.coordinator.address,
                    rounds,
                    3 * ETHER,
                    BOND,
                    3,
                    TIMING,
                    holdout=terms if rounds == 1 else None,
                )
                if rounds == 1:
                    self.keys[task_id] = keys
                for who in people[3:5]:
                    self.market.with_signer(who).claim(task_id, BOND)
            for who in panel[:2]:
                self.market.with_signer(who).stake_validator(RULES.validator_stake)
                self.stakes[who.address] = self._market_time()
            self._advance(1)
            self.stage = "setup"  # outcomes of the steps below are not the random run's
            a, b = people[3:5]
            if start != "fresh":
                for who in (a, b):
                    self.commit(who=who, task=2, metric=1)
                for who in (a, b):
                    self.reveal(who=who, task=2)
            if start in ("posted", "disputed"):
                self.post(
                    task=2,
                    share=50,
                    stake=True,
                    slashes=[(b, SlashReason.DISHONEST_CLAIM)],
                    justified_only=True,
                    sybil=False,
                )
            if start == "disputed":
                self.challenge(task=2, who=actors.challenger)
                self.vote(task=2, who=panel[0], choice="alt")
            self.stage = None

        def _expect(
            self,
            name: str,
            refusal: str | None,
            action: Callable[[], object],
            fields: dict[str, object] | None = None,
        ) -> bool:
            """Run ``action``: it must succeed when ``refusal`` is None, else revert with it (and
            with ``fields`` among the error's, when given). Returns whether it succeeded."""
            key = f"{self.stage} {name}" if self.stage else name
            try:
                action()
            except ContractRevertError as e:
                outcomes[key, e.name] += 1
                assert e.name == refusal, f"{name}: expected {refusal or 'success'}, got {e}"
                if fields:
                    assert {k: e.fields[k] for k in fields} == fields, f"{name}: got {e}"
                return False
            outcomes[key, SUCCESS] += 1
            assert refusal is None, f"{name}: expected {refusal}, but it succeeded"
            return True

        # ─────────────────────────────────────── the clock

        def _now(self) -> int:
            """Block time of the next transaction (the clock is frozen between waits)."""
            return self.market.w3.eth.get_block("latest")["timestamp"]

        def _paused(self) -> bool:
            began = self.pause_began
            return began is not None and self._now() < began + MAX_PAUSE

        def _market_time(self) -> int:
            """The model's market clock: block time less every paused second."""
            now, began = self._now(), self.pause_began
            stopped = 0 if began is None else min(now, began + MAX_PAUSE) - began
            return now - self.paused_total - stopped

        def _gate(self) -> str | None:
            """``whenNotPaused``: the first check of every action that moves money or time."""
            return "MarketIsPaused" if self._paused() else None

        def _advance(self, seconds: int) -> None:
            _anvil(connection, "evm_setNextBlockTimestamp", [self._now() + seconds])
            _anvil(connection, "evm_mine", [])

        # ─────────────────────────────────────── views

        def _tasks(self):
            return range(1, self.market.task_count() + 1)

        def _pick(self, task: int) -> int:
            """Task ``task``, or an existing one in its place: created tasks get actions too."""
            return 1 + (task - 1) % self.market.task_count()

        def _open(self, task: int) -> TaskInfo | None:
            """The task if it is open (most actions need that first), else None."""
            info = self.market.task(task)
            return info if info.status is TaskStatus.OPEN else None

        def _last_posted(self, task: int) -> int:
            """The round a challenge, vote or resolve aims at: the last posted (or round 0)."""
            return max(0, self.market.task(task).current_round - 1)

        def _settled(self, task: int, info: TaskInfo) -> bool:
            """The contract's ``_postedRoundsSettled``: no dispute open, the last posted round
            final or voided."""
            if info.open_disputes:
                return False
            if info.current_round == 0:
                return True
            last = self.market.round(task, info.current_round - 1)
            return last.phase in (RoundPhase.FINAL, RoundPhase.VOIDED)

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
            window = self.market.holdout(task).reveal_duration  # the merge window follows it
            return self._market_time() >= running.reveal_deadline + window + info.timing.merge

        def _shares_left(self, task: int) -> int:
            """Escrow shares whose refund is unclaimed: every funder is one of `people`."""
            return sum(self.market.funder_shares(task, p.address)[0] for p in people)

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

        # ─────────────────────────────────────── tasks, slots, submissions

        @rule(
            who=st.sampled_from(people),
            bounty=st.integers(1, 5),
            rounds=st.integers(1, 2),
            at_floor=st.booleans(),
            short=st.sets(st.sampled_from([name for name, _ in FLOORED]), max_size=2),
            sealed=st.booleans(),
        )
        def create(self, who, bounty, rounds, at_floor, short, sealed=False):
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
            refusal = self._gate() or ("TaskBelowFloor" if below else None)
            task_id = self.market.task_count() + 1
            keys = key_chain(sha256(f"task {task_id}".encode()).digest(), rounds)
            terms = HoldoutTerms(chain_head(keys), HOLDOUT_WINDOW, HOLDOUT_BOND) if sealed else None
            if (
                self._expect(
                    "create",
                    refusal,
                    lambda: self.market.with_signer(who).create_task(
                        "bafyspec",
                        actors.coordinator.address,
                        rounds,
                        bounty * ETHER,
                        bond,
                        3,
                        timing,
                        holdout=terms,
                    ),
                    below[0] if below and refusal == "TaskBelowFloor" else None,
                )
                and sealed
            ):
                self.keys[task_id] = keys
                assert self.market.holdout(task_id).bond_held == rounds * HOLDOUT_BOND
                assert self.market.task(task_id).escrow == bounty * ETHER

        @rule(
            who=st.sampled_from(people),
            task=tasks,
            amount=st.sampled_from([ETHER, 2 * ETHER, 1]),
        )
        def fund(self, who, task, amount):
            """Any time, any amount: a late funder buys shares at the escrow's value then (with
            the final slashes in it)."""
            task = self._pick(task)
            info = self.market.task(task)
            escrow = info.escrow + info.slashes_pending  # final slashes join the escrow first
            minted = amount * (info.total_shares + VIRTUAL_SHARES) // (escrow + 1)
            if self._paused():
                refusal = "MarketIsPaused"
            elif info.status is not TaskStatus.OPEN:
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
            if self._expect(
                "fund", refusal, lambda: self.market.with_signer(who).fund(task, amount)
            ):
                assert self.market.funder_shares(task, who.address)[0] == shares + minted
                after = self.market.task(task)
                assert (after.escrow, after.slashes_pending) == (escrow + amount, 0)

        @rule(who=st.sampled_from(people), task=tasks)
        def claim(self, who, task):
            task = self._pick(task)
            info = self.market.task(task)
            if self._paused():
                refusal = "MarketIsPaused"
            elif info.status is not TaskStatus.OPEN:
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
            """Never paused: a pause stops the clock, so nobody misses the deadline."""
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

        @rule(task=tasks, which=st.sampled_from(["right", "later", "earlier"]))
        def reveal_holdout(self, task, which):
            """The sponsor's key for the current round, the next round's, or the previous one's
            (only the round's own key, sent in its Unsealing phase, is taken)."""
            task = self._pick(task)
            info = self.market.task(task)
            round_ = info.current_round
            keys = self.keys.get(task, [bytes(32)] * (info.rounds + 1))
            index = {"right": round_, "later": round_ + 1, "earlier": round_ - 1}[which]
            key = keys[index] if 0 <= index < len(keys) else b"\x01" * 32
            holdout = self.market.holdout(task)
            unsealing = (
                round_ < info.rounds
                and self.market.round(task, round_).phase is RoundPhase.UNSEALING
            )
            refusal = self._gate()
            if refusal is None and info.status is not TaskStatus.OPEN:
                refusal = "TaskNotOpen"
            elif refusal is None and task not in self.keys:
                refusal = "HoldoutNotSealed"
            elif refusal is None and not unsealing:
                refusal = "RoundWrongPhase"
            elif refusal is None and which != "right":
                refusal = "HoldoutKeyMismatch"
            booked = self.market.withdrawable(info.sponsor)
            sponsor = self.market.with_signer(actors.sponsor)
            if self._expect("reveal_holdout", refusal, lambda: sponsor.reveal_holdout(task, key)):
                after = self.market.holdout(task)
                assert (after.last_key, after.revealed_through) == (key, round_ + 1)
                assert after.bond_held == holdout.bond_held - HOLDOUT_BOND
                assert self.market.withdrawable(info.sponsor) == booked + HOLDOUT_BOND

        @rule(seconds=st.sampled_from([3, 30, 101, 250, WEEK_AND_A_BIT]))
        def wait(self, seconds):
            """Short enough to stop inside the floors' phases, long enough to pass the usual;
            and once in a while a week, past claim windows, a pause's end and its cool-down."""
            self._advance(seconds)

        # ─────────────────────────────────────── the coordinator

        def _stake_coordinator(self, task: int, amount: int) -> None:
            refusal = self._gate()
            if refusal is None and self._open(task) is None:
                refusal = "TaskNotOpen"
            stake = self.market.task(task).coordinator_stake
            coordinator = self.market.with_signer(actors.coordinator)
            if self._expect(
                "stake_coordinator", refusal, lambda: coordinator.stake_coordinator(task, amount)
            ):
                assert self.market.task(task).coordinator_stake == stake + amount

        @rule(
            task=tasks,
            share=st.integers(0, 100),
            stake=st.booleans(),
            slashes=st.lists(
                st.tuples(st.sampled_from(people), st.sampled_from(SlashReason)), max_size=2
            ),
            justified_only=st.booleans(),
            sybil=st.booleans(),
        )
        def post(self, task, share, stake, slashes, justified_only, sybil):
            """The coordinator posts credits for the revealed (and, with ``sybil``, for a slot
            that revealed nothing) and ``slashes``: only the justified ones, or as drawn (then
            the contract names the first bad one). With ``stake`` it first tops its stake up."""
            task = self._pick(task)
            info = self.market.task(task)
            round_ = info.current_round
            merging = (
                info.status is TaskStatus.OPEN
                and round_ < info.rounds
                and self.market.round(task, round_).phase is RoundPhase.MERGING
            )
            holdout = self.market.holdout(task)
            forfeit = HOLDOUT_BOND if holdout.sealed and not holdout.revealed(round_) else 0
            share_of_escrow = info.escrow // max(1, info.rounds - round_)
            needed = share_of_escrow * RULES.coordinator_stake_bps // BPS
            budget = share_of_escrow + forfeit
            if stake and merging and needed > info.coordinator_stake:
                self._stake_coordinator(task, needed - info.coordinator_stake)
            info = self.market.task(task)

            slots = {p.address: self.market.contributor(task, p.address) for p in people}
            subs = {p.address: self.market.submission(task, round_, p.address) for p in people}
            revealed = [a for a in slots if subs[a]["revealed"]]
            if sybil:
                revealed += [a for a in slots if slots[a]["joined"] and not subs[a]["revealed"]][:1]
            each = budget * share // 100 // len(revealed) if revealed else 0
            credits = [(a, each) for a in revealed] if each else []
            tree = CreditTree.of(credits) if credits else None

            orders, bonds, masks, taken = [], {}, {}, Counter()
            slash_refusal = None
            for who, reason in slashes:
                a = who.address
                slot, sub = slots[a], subs[a]
                mask = masks.setdefault(a, sub["slashed_mask"])
                if reason is SlashReason.TIMEOUT:
                    justified = round_ >= slot["first_round"] and not sub["revealed"]
                else:
                    justified = sub["revealed"]
                if not slot["joined"]:
                    refusal = "ClaimNotContributor"
                elif mask >> reason & 1:
                    refusal = "SlashAlreadyApplied"
                elif not justified:
                    refusal = "SlashNotJustified"
                else:
                    refusal = None
                if refusal and justified_only:
                    continue
                orders.append((a, reason))
                if refusal:
                    slash_refusal = slash_refusal or refusal
                    continue
                masks[a] = mask | 1 << reason
                bond = bonds.setdefault(a, slot["bond"])
                rate = info.rates.as_tuple()[reason]
                amount = min(info.claim_bond * rate // BPS, bond)
                bonds[a] = bond - amount
                taken[a] += amount

            if self._paused():
                refusal = "MarketIsPaused"
            elif info.status is not TaskStatus.OPEN:
                refusal = "TaskNotOpen"
            elif not merging:
                refusal = "RoundWrongPhase"
            elif info.coordinator_stake < needed:
                refusal = "CoordinatorStakeTooLow"
            else:
                refusal = slash_refusal
            root = tree.root if tree else bytes(32)
            total = sum(v for _, v in credits)
            coordinator = self.market.with_signer(actors.coordinator)
            if not self._expect(
                "post",
                refusal,
                lambda: coordinator.post_round(task, "bafym", "bafyr", root, total, orders),
            ):
                return
            if tree:
                self.trees[(task, round_)] = tree
            posted = self.market.round(task, round_)
            assert (posted.credits_root, posted.total_credited) == (root, total)
            assert posted.slashes_digest == slashes_digest(orders)
            assert posted.slashed_total == sum(taken.values())
            for a, amount in taken.items():
                self.slashed[(task, round_, a)] += amount
                assert self.market.contributor(task, a)["bond"] == bonds[a]
            after = self.market.task(task)
            assert after.slashes_pending == info.slashes_pending + sum(taken.values())
            assert after.escrow == info.escrow + forfeit - total  # a missed key's bond joins it
            assert self.market.holdout(task).bond_held == holdout.bond_held - forfeit

        # ─────────────────────────────────────── rewards

        @rule(tree=picks, leaf=picks, by_self=st.booleans())
        def claim_reward(self, tree, leaf, by_self):
            if not self.trees:
                return
            self._claim_reward(sorted(self.trees)[tree % len(self.trees)], leaf, by_self)

        def _claim_reward(self, key: tuple[int, int], leaf: int, by_self: bool = False) -> None:
            """Claim a credit: by the credited account itself (paid at once) when ``by_self``
            and its key is known, else by the owner for it (booked to its balance)."""
            task, round_ = key
            credits = self.trees[key].values
            account, amount = credits[leaf % len(credits)]
            r = self.market.round(task, round_)
            if self._paused():
                refusal = "MarketIsPaused"
            elif r.phase is not RoundPhase.FINAL:
                refusal = "RoundWrongPhase"  # challenge window open, disputed or voided
            elif self._market_time() >= r.challenge_deadline + RULES.claim_window:
                refusal = "RewardClaimExpired"
            elif not self.market.submission(task, round_, account)["revealed"]:
                refusal = "RewardNotRevealed"  # a Sybil slot the coordinator credited
            elif self.market.contributor(task, account)["rewarded_rounds"] >> round_ & 1:
                refusal = "RewardAlreadyClaimed"
            elif amount == 0:
                refusal = "NothingToPay"
            else:
                refusal = None
            proof = self.trees[key].proof(account)
            booked = self.market.withdrawable(account)
            own = {p.address: p for p in people}.get(account) if by_self else None
            claimant = self.market.with_signer(own) if own else self.market
            balance = connection.w3.eth.get_balance(account)
            receipts = []

            def claim() -> None:
                receipts.append(claimant.claim_reward(task, round_, account, amount, proof))

            if not self._expect("claim_reward", refusal, claim):
                return
            if own is None:
                assert self.market.withdrawable(account) == booked + amount
                return
            outcomes[f"{self.stage} paid_at_once" if self.stage else "paid_at_once", SUCCESS] += 1
            (receipt,) = receipts
            gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
            assert self.market.withdrawable(account) == booked  # paid at once, not booked
            assert connection.w3.eth.get_balance(account) == balance + amount - gas

        @rule(task=tasks, back=st.integers(0, 1))
        def expire_credits(self, task, back):
            task = self._pick(task)
            round_ = max(0, self.market.task(task).current_round - 1 - back)
            self._expire_credits(task, round_)

        def _expire_credits(self, task: int, round_: int) -> None:
            info = self.market.task(task)
            r = self.market.round(task, round_)
            unclaimed = r.total_credited - r.claimed_total
            if self._paused():
                refusal = "MarketIsPaused"
            elif r.phase is not RoundPhase.FINAL:
                refusal = "RoundWrongPhase"
            elif self._market_time() < r.challenge_deadline + RULES.claim_window:
                refusal = "RewardClaimWindowOpen"
            elif unclaimed == 0:
                refusal = "NothingToPay"
            else:
                refusal = None
            sponsor = self.market.withdrawable(info.sponsor)
            shares_left = self._shares_left(task)
            if not self._expect(
                "expire_credits", refusal, lambda: self.market.expire_credits(task, round_)
            ):
                return
            after = self.market.task(task)
            if info.status is TaskStatus.OPEN:
                assert after.escrow == info.escrow + unclaimed
            elif shares_left:
                assert after.refund_remaining == info.refund_remaining + unclaimed
            else:  # every funder took its refund: the sponsor gets it
                assert self.market.withdrawable(info.sponsor) == sponsor + unclaimed
                self.sponsor_credits[info.sponsor] += unclaimed
            r = self.market.round(task, round_)
            assert r.claimed_total == r.total_credited

        # ─────────────────────────────────────── disputes

        @rule(who=st.sampled_from(seats))
        def stake_validator(self, who):
            if self._paused():
                refusal = "MarketIsPaused"
            elif who.address in self.stakes:
                refusal = "ValidatorAlreadyStaked"
            else:
                refusal = None
            signer = self.market.with_signer(who)
            if self._expect(
                "stake_validator", refusal, lambda: signer.stake_validator(RULES.validator_stake)
            ):
                self.stakes[who.address] = self._market_time()
                assert self.market.validator(who.address) == (
                    RULES.validator_stake,
                    self.stakes[who.address],
                )

        @rule(who=st.sampled_from(seats))
        def unstake_validator(self, who):
            """Never paused; leaving escapes nothing (votes carry their own bonds)."""
            refusal = None if who.address in self.stakes else "ValidatorNotStaked"
            booked = self.market.withdrawable(who.address)
            if self._expect(
                "unstake_validator",
                refusal,
                lambda: self.market.with_signer(who).unstake_validator(),
            ):
                del self.stakes[who.address]
                assert self.market.withdrawable(who.address) == booked + RULES.validator_stake

        @rule(task=tasks, who=st.sampled_from([*people, *panel]))
        def challenge(self, task, who):
            task = self._pick(task)
            round_ = self._last_posted(task)
            info = self.market.task(task)
            model = self.disputes.get((task, round_))
            posted = round_ < info.current_round
            opens = False
            if self._paused():
                refusal = "MarketIsPaused"
            elif info.status is not TaskStatus.OPEN:
                refusal = "TaskNotOpen"
            elif model is None and posted:
                phase = self.market.round(task, round_).phase
                opens = phase is RoundPhase.CHALLENGE
                refusal = None if opens else "RoundWrongPhase"
            elif (
                model is None
                or model.outcome is not DisputeOutcome.OPEN
                or self._market_time() >= model.vote_deadline
            ):
                refusal = "DisputeNotOpen"  # not posted, decided, or the vote is over
            elif model.stance(who.address).challenged:
                refusal = "DisputeAlreadyJoined"
            else:
                refusal = None
            if not self._expect(
                "challenge",
                refusal,
                lambda: self.market.with_signer(who).challenge(task, round_, "x"),
            ):
                return
            if opens:
                r = self.market.round(task, round_)
                model = self.disputes[(task, round_)] = DisputeModel(
                    vote_deadline=self._market_time() + RULES.vote_duration,
                    bond=info.claim_bond,
                    posted=r.candidate,
                    posted_total=r.total_credited,
                )
                model.ballots[r.candidate] = (r.credits_root, r.total_credited, None)
            model.stance(who.address).challenged = True
            model.challengers += 1
            view = self.market.dispute(task, round_)
            assert (view.outcome, view.vote_deadline, view.challengers, view.bond) == (
                DisputeOutcome.OPEN,
                model.vote_deadline,
                model.challengers,
                model.bond,
            )
            assert view.posted_candidate == model.posted
            assert self.market.round(task, round_).phase is RoundPhase.CHALLENGE

        def _ballot(
            self, task: int, round_: int, choice: str
        ) -> tuple[bytes, int, bytes, CreditTree | None]:
            """(root, total, slashes digest, tree) of a validator's ballot: the posted result,
            nothing, half the posted credits among the revealed (no slashes), or the posted
            credits plus a wei (more than was posted)."""
            r = self.market.round(task, round_)
            if choice == "posted":
                return r.credits_root, r.total_credited, r.slashes_digest, None
            if choice == "greedy":
                return r.credits_root, r.total_credited + 1, r.slashes_digest, None
            revealed = [
                p.address
                for p in people
                if self.market.submission(task, round_, p.address)["revealed"]
            ]
            each = r.total_credited // (2 * len(revealed)) if revealed else 0
            if choice == "none" or each == 0:
                return bytes(32), 0, bytes(32), None
            tree = CreditTree.of([(a, each) for a in revealed])
            return tree.root, each * len(revealed), bytes(32), tree

        @rule(task=tasks, who=st.sampled_from(seats), choice=st.sampled_from(BALLOTS))
        def vote(self, task, who, choice):
            task = self._pick(task)
            round_ = self._last_posted(task)
            info = self.market.task(task)
            model = self.disputes.get((task, round_))
            since = self.stakes.get(who.address)
            if self._paused():
                refusal = "MarketIsPaused"
            elif info.status is not TaskStatus.OPEN:
                refusal = "TaskNotOpen"
            elif (
                model is None
                or model.outcome is not DisputeOutcome.OPEN
                or self._market_time() >= model.vote_deadline
            ):
                refusal = "DisputeNotOpen"
            elif since is None or since >= model.vote_deadline - RULES.vote_duration:
                refusal = "VoterNotEligible"  # off the panel, or seated after the dispute opened
            elif model.stance(who.address).vote:
                refusal = "DisputeAlreadyJoined"
            else:
                refusal = None
            root, total, digest, tree = self._ballot(task, round_, choice)
            signer = self.market.with_signer(who)
            if not self._expect(
                "vote", refusal, lambda: signer.vote(task, round_, root, total, digest, "bafyv")
            ):
                return
            candidate = candidate_key(root, total, digest)
            model.ballots.setdefault(candidate, (root, total, tree))
            model.stance(who.address).vote = candidate
            model.add_vote(candidate)
            view = self.market.dispute(task, round_)
            assert (view.votes, view.leader, view.leader_votes, view.tied) == (
                model.votes,
                model.leader,
                model.leader_votes,
                model.tied,
            )
            assert self.market.votes_for(task, round_, candidate) == model.tally[candidate]

        @rule(task=tasks)
        def resolve(self, task):
            task = self._pick(task)
            self._resolve(task, self._last_posted(task))

        def _resolve(self, task: int, round_: int) -> None:
            model = self.disputes.get((task, round_))
            if self._paused():
                refusal = "MarketIsPaused"
            elif model is None or model.outcome is not DisputeOutcome.OPEN:
                refusal = "DisputeNotOpen"
            elif self._market_time() < model.vote_deadline:
                refusal = "DisputeVoteRunning"
            else:
                refusal = None
            info = self.market.task(task)
            if not self._expect(
                "resolve", refusal, lambda: self.market.resolve_dispute(task, round_)
            ):
                return
            # The model's decision: outcome, winners, the pool they share, what returns to escrow.
            entries = model.challengers + model.votes
            forfeited = refunded = winners = 0
            voided = False
            if model.votes < RULES.quorum or model.tied:
                outcome = DisputeOutcome.NO_QUORUM
                voided = True
            elif model.leader == model.posted:
                outcome = DisputeOutcome.POSTED_HELD
                winners = model.leader_votes
            else:
                outcome = DisputeOutcome.OVERTURNED
                winners = model.challengers + model.leader_votes
                forfeited = info.coordinator_stake
                leader_total = model.ballots[model.leader][1]
                voided = leader_total > model.posted_total  # never a raise in spending
                refunded = model.posted_total - leader_total
            if voided:
                refunded = model.posted_total
            pool = model.bond * (entries - winners) + forfeited
            model.per_winner = pool // winners if winners else 0
            dust = pool - model.per_winner * winners if winners else 0
            model.outcome = outcome
            view = self.market.dispute(task, round_)
            assert (view.outcome, view.payout_per_winner) == (outcome, model.per_winner)
            after = self.market.task(task)
            assert after.escrow == info.escrow + refunded + dust
            assert after.coordinator_stake == info.coordinator_stake - forfeited
            r = self.market.round(task, round_)
            if outcome is not DisputeOutcome.POSTED_HELD:  # its slashes are revertible now
                assert after.slashes_pending == info.slashes_pending - r.slashed_total
            if voided:
                assert r.phase is RoundPhase.VOIDED
                self.trees.pop((task, round_), None)
            elif outcome is DisputeOutcome.OVERTURNED:
                root, total, tree = model.ballots[model.leader]
                assert (r.phase, r.credits_root, r.total_credited) == (
                    RoundPhase.FINAL,
                    root,
                    total,
                )
                if tree:
                    self.trees[(task, round_)] = tree
                else:
                    self.trees.pop((task, round_), None)
            else:
                assert r.phase is RoundPhase.FINAL

        @rule(task=tasks, who=st.sampled_from([*people, *panel]), back=st.integers(0, 1))
        def claim_dispute_payout(self, task, who, back):
            task = self._pick(task)
            round_ = max(0, self.market.task(task).current_round - 1 - back)
            self._claim_dispute_payout(task, round_, who)

        def _claim_dispute_payout(self, task: int, round_: int, who: LocalAccount) -> None:
            """Never paused: booking what is owed goes on."""
            model = self.disputes.get((task, round_))
            owed = 0
            if model is not None and model.outcome is DisputeOutcome.OPEN:
                refusal = "DisputeVoteRunning"
            else:
                owed = model.owed(who.address) if model else 0
                refusal = None if owed else "NothingToPay"
            assert self.market.stance(task, round_, who.address)["owed"] == owed
            booked = self.market.withdrawable(who.address)
            signer = self.market.with_signer(who)
            if self._expect(
                "claim_dispute_payout", refusal, lambda: signer.claim_dispute_payout(task, round_)
            ):
                model.stance(who.address).paid = True
                assert self.market.withdrawable(who.address) == booked + owed

        @rule(task=tasks, who=st.sampled_from(people), back=st.integers(0, 1))
        def revert_slash(self, task, who, back):
            task = self._pick(task)
            round_ = max(0, self.market.task(task).current_round - 1 - back)
            self._revert_slash(task, round_, who)

        def _revert_slash(self, task: int, round_: int, who: LocalAccount) -> None:
            """Never paused. Only slashes of a round a dispute overturned or voided come back."""
            model = self.disputes.get((task, round_))
            amount = self.slashed[(task, round_, who.address)]
            assert self.market.submission(task, round_, who.address)["slashed_amount"] == amount
            undone = model is not None and model.outcome in (
                DisputeOutcome.OVERTURNED,
                DisputeOutcome.NO_QUORUM,
            )
            refusal = None if undone and amount else "SlashNotRevertible"
            bond = self.market.contributor(task, who.address)["bond"]
            if self._expect(
                "revert_slash",
                refusal,
                lambda: self.market.with_signer(actors.funder).revert_slash(
                    task, round_, who.address
                ),
            ):
                self.slashed[(task, round_, who.address)] = 0
                assert self.market.contributor(task, who.address)["bond"] == bond + amount

        # ─────────────────────────────────────── the owner's clock

        @rule(
            by_owner=st.booleans(),
            hold=st.sampled_from([0, 30, 250]),
            lift=st.sampled_from([True, True, True, False]),
        )
        def pause(self, by_owner, hold, lift):
            """Mostly a short pause: ``hold`` seconds of block time pass (none of market time),
            then the owner lifts it. Otherwise the market stays paused for the next steps, until
            the ``unpause`` rule or a week-long wait ends it."""
            now, began = self._now(), self.pause_began
            last_end = self.last_pause_end
            if began is not None and not self._paused():
                last_end = began + MAX_PAUSE  # a lapsed pause, recorded first
            if not by_owner:
                refusal = "OwnableUnauthorizedAccount"
            elif self._paused():
                refusal = "MarketIsPaused"
            elif last_end and now < last_end + MAX_PAUSE:
                refusal = "PauseCoolingDown"
            else:
                refusal = None
            signer = self.market if by_owner else self.market.with_signer(actors.funder)
            fields = {"readyAt": last_end + MAX_PAUSE} if refusal == "PauseCoolingDown" else None
            if self._expect("pause", refusal, signer.pause, fields):
                if began is not None:  # the lapsed pause's week joins the offset
                    self.paused_total += MAX_PAUSE
                self.last_pause_end = last_end
                self.pause_began = now
                assert self.market.paused()
                if lift:
                    self._advance(hold)
                    self.unpause(by_owner=True)

        @rule(by_owner=st.booleans())
        def unpause(self, by_owner):
            """Also records a pause that lapsed by itself."""
            began = self.pause_began
            if not by_owner:
                refusal = "OwnableUnauthorizedAccount"
            elif began is None:
                refusal = "MarketNotPaused"
            else:
                refusal = None
            signer = self.market if by_owner else self.market.with_signer(actors.funder)
            if self._expect("unpause", refusal, signer.unpause):
                ended = min(self._now(), began + MAX_PAUSE)
                self.paused_total += ended - began
                self.last_pause_end = ended
                self.pause_began = None

        # ─────────────────────────────────────── closing and settling

        @rule(task=tasks, who=st.sampled_from(people))
        def close_and_settle(self, task, who):
            task = self._pick(task)
            self._close(task, who)
            self._claim_refund(task, who)
            self._release_bond(task, who)
            self._release_stake(task)

        def _close(self, task: int, who: LocalAccount) -> None:
            info = self.market.task(task)
            if self._paused():
                refusal = "MarketIsPaused"
            elif info.status is not TaskStatus.OPEN:
                refusal = "TaskNotOpen"
            else:
                refusal = None if self._closable(task, info, who) else "TaskNotClosable"
            bond = self.market.holdout(task).bond_held
            booked = self.market.withdrawable(info.sponsor)
            if self._expect(
                "close", refusal, lambda: self.market.with_signer(who).close_task(task)
            ):
                # The holdout bond of rounds never posted goes back to the sponsor.
                assert self.market.holdout(task).bond_held == 0
                assert self.market.withdrawable(info.sponsor) == booked + bond
                # The refund pool is the escrow with the final slashes, split over exactly the
                # funders' shares.
                after = self.market.task(task)
                assert after.refund_remaining == info.escrow + info.slashes_pending
                assert after.slashes_pending == 0
                assert self._shares_left(task) == info.total_shares

        def _claim_refund(self, task: int, who: LocalAccount) -> None:
            """The refund is the funder's shares' part of what remains, predicted to the wei."""
            info = self.market.task(task)
            shares, _ = self.market.funder_shares(task, who.address)
            if info.status is not TaskStatus.CLOSED:
                refusal = "TaskNotClosed"
            else:
                refusal = None if shares else "NothingToPay"
            booked = self.market.withdrawable(who.address)
            remaining = self._shares_left(task)
            if self._expect(
                "claim_refund", refusal, lambda: self.market.with_signer(who).claim_refund(task)
            ):
                # When `who` holds all the shares left, it takes the whole rest, dust included.
                amount = info.refund_remaining * shares // remaining
                assert self.market.withdrawable(who.address) == booked + amount
                assert self.market.task(task).refund_remaining == info.refund_remaining - amount

        def _release_bond(self, task: int, who: LocalAccount) -> None:
            bond = self.market.contributor(task, who.address)["bond"]
            if self.market.task(task).status is not TaskStatus.CLOSED:
                refusal = "TaskNotClosed"
            else:
                refusal = None if bond else "NothingToPay"
            booked = self.market.withdrawable(who.address)
            if self._expect(
                "release_bond", refusal, lambda: self.market.with_signer(who).release_bond(task)
            ):
                assert self.market.withdrawable(who.address) == booked + bond

        def _release_stake(self, task: int) -> None:
            info = self.market.task(task)
            if info.status is not TaskStatus.CLOSED:
                refusal = "TaskNotClosed"
            else:
                refusal = None if info.coordinator_stake else "NothingToPay"
            coordinator = self.market.with_signer(actors.coordinator)
            booked = self.market.withdrawable(actors.coordinator.address)
            if self._expect("release_stake", refusal, lambda: coordinator.release_stake(task)):
                after = self.market.withdrawable(actors.coordinator.address)
                assert after == booked + info.coordinator_stake

        @rule(who=st.sampled_from(everyone))
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

        # ─────────────────────────────────────── invariants

        @invariant()
        def books_balance(self):
            """The balance covers the books with exactly the forced ether to spare: nothing
            owed is missing, nothing is counted twice, and no forced wei is anybody's."""
            if not hasattr(self, "market"):
                return
            MarketMachine.steps += 1
            functions = self.market.contract.functions
            count = self.market.task_count()
            with self.market.w3.batch_requests() as batch:  # one round trip: it runs every step
                batch.add(functions.validatorStakeTotal())
                for t in range(1, count + 1):
                    batch.add(functions.getTask(t))
                for t in range(1, count + 1):
                    batch.add(functions.getHoldout(t))
                for p in everyone:
                    batch.add(functions.withdrawableOf(p.address))
                staked, *rest = batch.execute()
            held = sum(TaskInfo.from_abi(t, raw).held for t, raw in enumerate(rest[:count], 1))
            held += sum(
                HoldoutInfo.from_abi(t, raw).bond_held
                for t, raw in enumerate(rest[count : 2 * count], 1)
            )
            owed = sum(rest[2 * count :])
            assert staked == RULES.validator_stake * len(self.stakes)
            assert self.market.balance() - (held + staked + owed) == self.forced

        @invariant()
        def clock_is_the_models(self):
            """Market time is block time less every paused second; a pause lapses after a week."""
            if not hasattr(self, "market"):
                return
            assert self.market.market_time() == self._market_time()
            assert self.market.paused() == self._paused()

        def _settle(self) -> None:
            """Decide every dispute, outwait every deadline, close every task, book everything
            due and withdraw it: only the forced ether may stay, or money is locked forever."""
            self.stage = "teardown"
            if self.pause_began is not None:
                self.unpause(by_owner=True)
            self._advance(sum(TIMING.as_tuple()) + HOLDOUT_WINDOW + RULES.vote_duration)
            for task, round_ in sorted(self.disputes):
                if self.disputes[task, round_].outcome is DisputeOutcome.OPEN:
                    self._resolve(task, round_)
            for key, tree in sorted(self.trees.items()):  # claims within the window
                for leaf in range(len(tree.values)):  # half paid at once, half booked
                    self._claim_reward(key, leaf, by_self=leaf % 2 == 0)
            for task in self._tasks():
                if self._open(task):
                    self._close(task, actors.owner)
            self._advance(RULES.claim_window)  # what is left unclaimed expires
            for task in self._tasks():
                for round_ in range(self.market.task(task).current_round):
                    r = self.market.round(task, round_)
                    if r.phase is RoundPhase.FINAL and r.total_credited > r.claimed_total:
                        self._expire_credits(task, round_)
            for (task, round_), model in sorted(self.disputes.items()):
                for who in [*people, *panel]:
                    if model.owed(who.address):
                        self._claim_dispute_payout(task, round_, who)
            for task, round_, account in sorted(self.slashed):
                who = next(p for p in people if p.address == account)
                model = self.disputes.get((task, round_))
                undone = model and model.outcome is not DisputeOutcome.POSTED_HELD
                if undone and self.slashed[task, round_, account]:
                    self._revert_slash(task, round_, who)
            for task in self._tasks():
                for who in people:
                    if self.market.funder_shares(task, who.address)[0]:
                        self._claim_refund(task, who)
                    if self.market.contributor(task, who.address)["bond"]:
                        self._release_bond(task, who)
                if self.market.task(task).coordinator_stake:
                    self._release_stake(task)
            for who in seats:
                if who.address in self.stakes:
                    self.unstake_validator(who)
            for who in everyone:
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
            booked = Counter(self.sponsor_credits)
            for name, key in (
                ("RewardClaimed", "account"),
                ("RefundClaimed", "funder"),
                ("BondReleased", "contributor"),
                ("DisputePaid", "account"),
                ("StakeReleased", "coordinator"),
                ("ValidatorUnstaked", "stake"),
                ("HoldoutBondReturned", "sponsor"),
            ):
                for e in reader.get(name):
                    if name == "ValidatorUnstaked":
                        booked[e["args"]["validator"]] += e["args"]["stake"]
                    else:
                        booked[e["args"][key]] += e["args"]["amount"]
            sponsors = {
                e["args"]["taskId"]: e["args"]["sponsor"] for e in reader.get("TaskCreated")
            }
            for e in reader.get("HoldoutRevealed"):  # a key in time books the round's bond back
                booked[sponsors[e["args"]["taskId"]]] += e["args"]["bondReturned"]
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
            # Each step is a few real transactions on anvil (~0.1 s with the invariant checks),
            # and each example ends by settling everything. Hypothesis makes its first 10
            # examples tiny; each later one runs the full step count.
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
        if outcome == SUCCESS and " " not in rule  # not a setup or teardown step
    )
    assert successes > 0, f"every action reverted: {sorted(outcomes.items())}"
    paid = outcomes["paid_at_once", SUCCESS] + outcomes["teardown paid_at_once", SUCCESS]
    assert paid > 0, "no contributor claimed its own reward (the paid-at-once path)"
    if SOAK_EXAMPLES:
        with capsys.disabled():
            print(f"\nsoak: {machine.steps} steps in {machine.examples} examples")
            for (rule, outcome), n in sorted(outcomes.items()):
                print(f"  {rule:24} {outcome:28} {n}")


def test_a_scripted_lifecycle_succeeds_in_every_rule(connection, actors, frozen_clock):
    """Task 1 (one round, a sealed holdout) from claim to withdrawal through the machine's rules,
    whose predictions must agree at every step; the random run need not reach all of them. The
    round's holdout key is refused early and for the wrong round, then taken. The round is
    posted with a slash and a Sybil credit, challenged, overturned by the validators' vote, and
    its slash reverted; a pause holds the dispute; the unclaimed credit expires. The refusals
    new to the market are met once each, too."""
    outcomes: Counter[tuple[str, str]] = Counter()
    machine = _market_machine(connection, actors, outcomes)()
    a, b, c = actors.contributors[:3]  # a and b hold slots from `deploy`
    late_validator = validators(3)[2]
    machine.deploy(start="fresh")
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
    machine.reveal_holdout(task=1, which="right")  # reveals still run: refused
    machine.wait(seconds=101)
    machine.wait(seconds=101)  # past the reveal deadline (inside the key window): unsealing
    machine.reveal_holdout(task=1, which="later")  # a later round's key: refused
    machine.reveal_holdout(task=2, which="right")  # task 2 has no sealed holdout
    machine.reveal_holdout(task=1, which="right")  # merging; the bond back to the sponsor
    machine.post(task=3, share=0, stake=True, slashes=[], justified_only=True, sybil=False)
    post = {"task": 1, "share": 100, "justified_only": True, "sybil": True}
    timeout = [(c, SlashReason.TIMEOUT)]
    machine.post(**post, stake=False, slashes=timeout)  # nothing at stake: refused
    machine.post(**post, stake=True, slashes=timeout)  # credits a, b and the Sybil c
    machine.fund(who=actors.funder, task=1, amount=ETHER)  # every round is posted: closed
    machine.stake_validator(who=late_validator)
    machine.challenge(task=1, who=actors.challenger)
    machine.vote(task=1, who=late_validator, choice="none")  # seated too late
    for who in validators(2):
        machine.vote(task=1, who=who, choice="alt")  # half the credits, a and b only
    machine.pause(by_owner=True, hold=0, lift=False)
    machine.resolve(task=1)  # paused
    machine.wait(seconds=250)  # block time runs, market time does not: the vote is still open
    machine.unpause(by_owner=True)
    machine.resolve(task=1)  # the vote still runs
    machine.wait(seconds=101)
    machine.resolve(task=1)  # overturned: the replacement credits a and b
    for who in (actors.challenger, *validators(2)):
        machine.claim_dispute_payout(task=1, who=who, back=0)
    machine.revert_slash(task=1, who=c, back=0)
    machine.claim_reward(tree=0, leaf=0, by_self=True)  # a claims its own: paid at once
    assert outcomes["paid_at_once", SUCCESS] == 1
    machine.pause(by_owner=True, hold=0, lift=True)  # a second pause within the week: cooling
    machine.unstake_validator(who=late_validator)
    machine.wait(seconds=250)
    machine.wait(seconds=250)  # past the claim window
    machine.expire_credits(task=1, back=0)  # the unclaimed credit goes back to the funders
    machine.force(who=actors.challenger, amount=ETHER // 3)
    machine.close_and_settle(task=1, who=actors.funder)  # the stake went to the dispute
    machine.close_and_settle(task=3, who=actors.funder)  # this one's comes back
    machine.close_and_settle(task=1, who=a)
    machine.withdraw(who=a)
    machine.books_balance()
    machine.clock_is_the_models()
    machine.teardown()
    never = [rule for rule in MUST_SUCCEED if not outcomes[rule, SUCCESS]]
    assert not never, f"never succeeded: {never}; outcomes: {sorted(outcomes.items())}"
    unmet = [refusal for refusal in MUST_REFUSE if not outcomes[refusal]]
    assert not unmet, f"never refused: {unmet}; outcomes: {sorted(outcomes.items())}"
