"""What the market looks like to a reader: tasks, rounds, reports, contributors, payouts.

Every figure comes from the chain (the contract's state and the :mod:`ledger` read model of
its events) or from the pinned round reports, at request time: nothing keeps a copy of the
truth, so what the dashboard and ``magnet task show`` show is what anyone re-verifying would
find. Views are plain dataclasses; nothing here knows about HTTP or terminals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from eth_utils import is_address, to_checksum_address
from web3.types import EventData

from magnet_market.app.auditor import Audit, Auditor
from magnet_market.app.errors import BadRequestError, NotFoundError
from magnet_market.app.ledger import (
    ACCOUNT_ARGS,
    DisputeRecord,
    PostedRecord,
    SlashRecord,
    TaskLedger,
)
from magnet_market.app.reports import PinnedRound, ReportError, load_posted
from magnet_market.app.session import Session
from magnet_market.app.swarm import TriedLine, tried
from magnet_market.autoresearch.config import describe
from magnet_market.chain.errors import TaskNotFound
from magnet_market.chain.types import (
    DisputeInfo,
    DisputeOutcome,
    Floors,
    HoldoutInfo,
    MarketRules,
    RoundInfo,
    RoundPhase,
    TaskInfo,
    TaskStatus,
)
from magnet_market.storage import StorageError
from magnet_market.tasks.spec import METRICS, SpecError, TaskSpec, spec_from_bytes

T = TypeVar("T")
#: Whether a smaller value of a metric is better, by metric name (as reports name it).
LOWER_IS_BETTER = {name: lower for name, lower in METRICS.values()}


@dataclass(frozen=True)
class Deadline:
    """The next deadline of a task's current round, seen from the chain's latest block.

    Deadlines run on the market's clock, which stops while the market is paused: ``remaining``
    is counted on it, and ``at`` is the unix time the deadline falls at if no pause comes.
    """

    label: str
    at: int  # unix time
    remaining: int  # market seconds from the latest block (negative once passed)


@dataclass(frozen=True)
class MarketSummary:
    """The market as a whole: its rules, its floors, its clock and its validator panel."""

    address: str
    owner: str  # holds the pause switch
    paused: bool
    market_time: int  # the market's clock: block time less every pause
    block_time: int
    floors: Floors
    rules: MarketRules
    validators: int  # accounts on the panel now
    validator_stake_total: int  # wei they lock
    tasks: int
    open_disputes: int  # over every open task


@dataclass(frozen=True)
class ValidatorView:
    """One account's seat on the validator panel."""

    address: str
    staked: bool
    stake: int  # wei locked (0 off the panel)
    since: int  # market time it staked (0 off the panel)
    required_stake: int  # what a seat costs on this market
    panel_size: int
    panel_stake: int
    quorum: int
    vote_seconds: int
    votes: list[VoteLine]  # the disputes it voted in


@dataclass(frozen=True)
class VoteLine:
    """A validator's vote in one dispute."""

    task_id: int
    round: int
    candidate: str  # 0x-hex
    for_posted: bool
    outcome: str


@dataclass(frozen=True)
class TaskRow:
    """One line of the tasks list."""

    task_id: int
    status: str  # "open" | "closed"
    phase: str  # the current round's phase, or "closed"
    round: int  # rounds posted so far
    rounds: int
    bounty: int  # wei funded in total
    escrow: int  # wei left to credit
    reserved: int
    bonds_held: int
    contributors: int
    max_contributors: int
    spec_cid: str
    deadline: Deadline | None
    coordinator_stake: int
    name: str | None  # from the pinned spec (None while the store cannot give it)
    kind: str | None  # tinylm, digits, tabular, text, series
    dataset: str | None  # the dataset CID of a task on a sponsor's data
    stake_needed: int  # what posting the current round needs (0 once every round is posted)
    slashes_pending: int
    open_disputes: int
    round_budget: int  # what the current round may credit (0 once every round is posted)
    joinable: bool  # a claim now gets a slot and at least one round to work in


@dataclass(frozen=True)
class CheckLine:
    """One verification rule's outcome for a submission, from the pinned report."""

    name: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class SubmissionLine:
    """A submission as its round's pinned report judged it."""

    author: str
    cid: str
    status: str  # accepted | rejected | dishonest
    claimed: float | None
    measured: float | None
    credit: int  # wei
    reward_claimed: bool
    checks: list[CheckLine]
    holdout_metric: float | None = None  # on the sealed holdout slice the round credited on
    kept: str | None = None  # what its search changed in the recipe it started from
    ledger_cid: str | None = None  # its published experiment ledger (who tried what)
    winning_recipe: bool = False  # the recipe the next round starts from
    tried: list[TriedLine] | str | None = None  # the ledger's experiments, or why unread


@dataclass(frozen=True)
class IdeaLine:
    """An earlier idea the round's accepted work adopted, and what it was credited."""

    author: str
    round: int  # where it was published
    changes: str
    adopted_by: list[str]
    credit: int  # wei


@dataclass(frozen=True)
class PostedRound:
    """What the chain and the pinned report say about a posted round."""

    merged_cid: str
    report_cid: str
    credits_root: str
    total_credited: int
    metric: str | None  # the metric's name, as the report gives it
    parent_metric: float | None
    merged_metric: float | None
    submissions: list[SubmissionLine]
    report_error: str | None  # the report could not be fetched or does not match the chain
    recomputed: bool = False  # a dispute replaced the posted credits: the report is a voter's
    credited_on: str = "val"  # "val", or "holdout:R": the sponsor's sealed slice R
    holdout_merged_metric: float | None = None
    holdout_forfeit: int = 0  # the sponsor's bond this round's budget took (key not revealed)
    ideas: list[IdeaLine] = field(default_factory=list)
    merge_step: str | None = None  # "outer", or the merge guard's fallback: "average", "best"


@dataclass(frozen=True)
class CandidateLine:
    """A result validators voted for in a dispute."""

    candidate: str  # 0x-hex keccak256(abi.encode(creditsRoot, totalCredited, slashesDigest))
    credits_root: str
    total_credited: int
    report_cid: str  # the first voter's recomputed report
    votes: int
    posted: bool  # the coordinator's posted result


@dataclass(frozen=True)
class DisputeView:
    """A challenged round's dispute: the chain's tally and who took part, from its events."""

    outcome: str  # open | posted_held | overturned | no_quorum
    vote_deadline: int
    deadline: Deadline | None  # "vote closes" while the vote runs
    bond: int  # what every challenge and vote locks
    challengers: list[str]
    voters: list[str]
    votes: int
    leader_votes: int
    tied: bool
    quorum: int
    payout_per_winner: int
    forfeited_stake: int  # the coordinator's stake the winners shared (overturned)
    refunded_to_escrow: int  # credits the decision returned to the escrow
    posted_candidate: str
    leader: str  # 0x-hex; zero until a vote
    candidates: list[CandidateLine]

    @property
    def open(self) -> bool:
        return self.outcome == "open"


@dataclass(frozen=True)
class RoundView:
    """A round's on-chain state, plus its pinned report once posted and its dispute if any."""

    round: int
    phase: str
    commits: int
    reveals: int
    total_credited: int
    claimed_total: int
    submit_deadline: int
    reveal_deadline: int
    challenge_deadline: int
    deadline: Deadline | None
    posted: PostedRound | None
    credits_root: str  # 0x-hex; zero until posted
    slashes_digest: str  # 0x-hex of the slashes posted with the round; zero if none
    slashed_total: int  # wei slashed with the post (given back if a dispute undoes the round)
    dispute: DisputeView | None  # None: never challenged
    claims_expire_at: int | None  # market time the unclaimed credits go back to the funders

    @property
    def slashes_undone(self) -> bool:
        """Whether a dispute overturned or voided the round, so its slashes are given back."""
        return self.dispute is not None and self.dispute.outcome in ("overturned", "no_quorum")


@dataclass(frozen=True)
class HoldoutView:
    """A task's sealed holdout as the chain holds it (``sealed`` False: none)."""

    sealed: bool
    revealed_through: int  # rounds below it have their key on chain
    reveal_duration: int  # seconds after a round's reveal deadline
    bond_per_round: int
    bond_held: int
    last_key: str  # 0x-hex: the last key revealed, or the chain's head

    @classmethod
    def of(cls, info: HoldoutInfo) -> HoldoutView:
        return cls(
            info.sealed,
            info.revealed_through,
            info.reveal_duration,
            info.bond_per_round,
            info.bond_held,
            _hex(info.last_key),
        )


@dataclass(frozen=True)
class TaskView:
    """Everything the task page shows."""

    info: TaskInfo
    row: TaskRow
    sponsor: str
    coordinator: str
    claim_bond: int
    slash_rates_bps: tuple[int, int, int]
    challenge_seconds: int
    coordinator_stake: int
    stake_needed: int
    slashes_pending: int
    open_disputes: int
    metric: str | None
    lower_is_better: bool | None
    rounds: list[RoundView]
    slashes: list[SlashRecord]
    holdout: HoldoutView

    @property
    def metric_points(self) -> list[tuple[int, float]]:
        """``(round, merged metric)`` of every posted round whose report gives one."""
        return [
            (r.round, r.posted.merged_metric)
            for r in self.rounds
            if r.posted is not None and r.posted.merged_metric is not None
        ]

    @property
    def holdout_points(self) -> list[tuple[int, float]]:
        """``(round, merged metric on the round's sealed holdout slice)`` where reported."""
        return [
            (r.round, r.posted.holdout_merged_metric)
            for r in self.rounds
            if r.posted is not None and r.posted.holdout_merged_metric is not None
        ]

    @property
    def baseline(self) -> float | None:
        """The metric of round 0's parent (the base checkpoint), if reported."""
        first = self.rounds[0].posted if self.rounds else None
        return first.parent_metric if first else None


@dataclass(frozen=True)
class SlotLine:
    """A contributor's slot in a task."""

    task_id: int
    joined_bond: int
    bond_left: int
    first_round: int
    rewarded_rounds: list[int]


@dataclass(frozen=True)
class CreditLine:
    """A credit of a contributor in a posted round, from the round's pinned credit tree."""

    task_id: int
    round: int
    amount: int
    claimed: bool


@dataclass(frozen=True)
class HistoryLine:
    """One market event that names the account."""

    block: int
    tx: str
    event: str
    task_id: int | None
    round: int | None
    amount: int | None


@dataclass(frozen=True)
class ContributorView:
    """Everything the contributor page shows."""

    address: str
    withdrawable: int
    slots: list[SlotLine]
    credits: list[CreditLine]
    slashes: list[SlashRecord]
    history: list[HistoryLine]
    report_errors: list[str]

    @property
    def credited(self) -> int:
        return sum(c.amount for c in self.credits)

    @property
    def claimed(self) -> int:
        return sum(c.amount for c in self.credits if c.claimed)


def parse_address(text: str) -> str:
    """The checksummed form of ``text``, or :class:`BadRequestError` if it is no address."""
    if not is_address(text):
        raise BadRequestError(f"{text!r} is not an Ethereum address (0x and 40 hex digits)")
    return to_checksum_address(text)


class MarketView:
    """Reads of one market and one content store, for the dashboard's pages and the CLI.

    Calls are serialised: the web server runs handlers on a thread pool, and one web3
    connection is not meant to be shared by threads at once.

    Args:
        session: whose chain and store to read (its signer, if any, is not used).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.market = session.market
        self.auditor = Auditor(session)
        self._lock = threading.RLock()
        self._specs: dict[str, TaskSpec | None] = {}  # by CID: a pinned spec never changes

    def locked(self, read: Callable[[], T]) -> T:
        """Run ``read`` while no other thread uses the connection."""
        with self._lock:
            return read()

    # ───────────────────────────────────────────────────────── the market

    def summary(self) -> MarketSummary:
        """The market's rules, floors, clock and validator panel."""
        with self._lock:
            market = self.market
            count = market.task_count()
            infos = [market.task(t) for t in range(1, count + 1)]
            return MarketSummary(
                address=market.address,
                owner=market.call(market.contract.functions.owner()),
                paused=market.paused(),
                market_time=market.market_time(),
                block_time=self.session.chain_time(),
                floors=market.floors(),
                rules=market.rules(),
                validators=len(self._panel()),
                validator_stake_total=market.validator_stake_total(),
                tasks=count,
                open_disputes=sum(i.open_disputes for i in infos),
            )

    def validator(self, address: str) -> ValidatorView:
        """``address``'s seat on the validator panel and the votes it cast."""
        account = parse_address(address)
        with self._lock:
            market = self.market
            stake, since = market.validator(account)
            rules = market.rules()
            votes = []
            for e in self.session.events.get("VoteCast", validator=account):
                a = e["args"]
                dispute = market.dispute(a["taskId"], a["round"])
                candidate = bytes(a["candidate"])
                votes.append(
                    VoteLine(
                        task_id=a["taskId"],
                        round=a["round"],
                        candidate=_hex(candidate),
                        for_posted=candidate == dispute.posted_candidate,
                        outcome=dispute.outcome.name.lower(),
                    )
                )
            return ValidatorView(
                address=account,
                staked=stake > 0,
                stake=stake,
                since=since,
                required_stake=rules.validator_stake,
                panel_size=len(self._panel()),
                panel_stake=market.validator_stake_total(),
                quorum=rules.quorum,
                vote_seconds=rules.vote_duration,
                votes=votes,
            )

    # ───────────────────────────────────────────────────────── tasks

    def tasks(self) -> list[TaskRow]:
        """Every task, newest first."""
        with self._lock:
            clock, rules = self._clock(), self.market.rules()
            count = self.market.task_count()
            return [self._row(self.market.task(t), clock, rules) for t in range(count, 0, -1)]

    def find_tasks(
        self, kind: str | None = None, min_round_budget: int = 0, open_only: bool = False
    ) -> list[TaskRow]:
        """The tasks of one ``kind`` (any, if ``None``) whose current round may credit at least
        ``min_round_budget`` wei, oldest first; with ``open_only``, only those a contributor
        can join now, the richest round first."""
        rows = [
            row
            for row in reversed(self.tasks())
            if (kind is None or row.kind == kind)
            and row.round_budget >= min_round_budget
            and (row.joinable or not open_only)
        ]
        if open_only:
            rows.sort(key=lambda row: (-row.round_budget, row.task_id))
        return rows

    def task_infos(self) -> list[TaskInfo]:
        """Every task as the contract holds it, oldest first."""
        with self._lock:
            return [self.market.task(t) for t in range(1, self.market.task_count() + 1)]

    def task_info(self, task_id: int) -> TaskInfo:
        """Task ``task_id`` as the contract holds it (no events, no reports)."""
        with self._lock:
            return self._task_info(task_id)

    def round_budget(self, task_id: int) -> tuple[int, int]:
        """The most the current round of ``task_id`` may credit (an equal share of the escrow
        per round left) and the stake its coordinator must hold to post it; zeros once every
        round is posted or the task is closed."""
        with self._lock:
            info = self._task_info(task_id)
            budget = _round_budget(info)
            current = info.current_round
            # once the holdout window closed without the key, the post takes the bond too
            if budget and self.market.round(task_id, current).phase is RoundPhase.MERGING:
                budget += self.market.holdout(task_id).forfeit(current)
            return budget, _stake_needed(self.market.rules(), info)

    def task(self, task_id: int) -> TaskView:
        """Task ``task_id`` with every round, its reports, its disputes and its slashes."""
        with self._lock:
            info = self._task_info(task_id)
            ledger = self.auditor.ledger(task_id)
            clock = self._clock()
            rules = self.market.rules()
            rounds = [
                self._round_view(info, ledger, r, clock, rules)
                for r in range(min(info.current_round + 1, info.rounds))
            ]
            metric = next((r.posted.metric for r in rounds if r.posted and r.posted.metric), None)
            row = self._row(info, clock, rules)
            return TaskView(
                info=info,
                row=row,
                sponsor=info.sponsor,
                coordinator=info.coordinator,
                claim_bond=info.claim_bond,
                slash_rates_bps=info.rates.as_tuple(),
                challenge_seconds=info.timing.challenge,
                coordinator_stake=info.coordinator_stake,
                stake_needed=row.stake_needed,
                slashes_pending=info.slashes_pending,
                open_disputes=info.open_disputes,
                metric=metric,
                lower_is_better=LOWER_IS_BETTER.get(metric) if metric else None,
                rounds=rounds,
                slashes=list(ledger.slashes),
                holdout=HoldoutView.of(self.market.holdout(task_id)),
            )

    def round(self, task_id: int, round_: int) -> RoundView:
        """Round ``round_`` of task ``task_id``."""
        with self._lock:
            info = self._task_info(task_id)
            if not 0 <= round_ < info.rounds:
                raise NotFoundError(
                    f"task {task_id} has rounds 0 to {info.rounds - 1}; there is no round {round_}"
                )
            ledger = self.auditor.ledger(task_id)
            return self._round_view(info, ledger, round_, self._clock(), self.market.rules())

    def payouts(self, task_id: int) -> Audit:
        """The same check as ``magnet payouts verify TASK``."""
        with self._lock:
            self._task_info(task_id)
            return self.auditor.verify_payouts(task_id)

    # ───────────────────────────────────────────────────────── contributors

    def contributor(self, address: str, known: str | None = None) -> ContributorView:
        """Slots, credits, slashes and history of ``address``.

        An address the market never saw is a 404, unless it is ``known`` (the dashboard's own
        signing account, whose page must exist before it does anything).
        """
        account = parse_address(address)
        with self._lock:
            events = [e for e in self.session.events.all() if _names(e, account)]
            withdrawable = self.market.withdrawable(account)
            if not events and not withdrawable and account != known:
                raise NotFoundError(f"{account} has no activity on this market")
            slots, credits, slashes, errors = [], [], [], []
            for e in events:
                if e["event"] != "ContributorJoined":
                    continue
                task_id = e["args"]["taskId"]
                slots.append(self._slot(task_id, account, e["args"]["bond"]))
                ledger = self.auditor.ledger(task_id)
                slashes += [s for s in ledger.slashes if s.contributor == account]
                for round_ in ledger.posted:
                    if ledger.voided(round_):
                        continue
                    try:
                        pinned = load_posted(self.session.store, task_id, ledger.paid_under(round_))
                    except (ReportError, StorageError) as err:
                        errors.append(f"task {task_id} round {round_}: {err}")
                        continue
                    amount = pinned.tree.amount(account) if pinned.tree else 0
                    if amount:
                        claimed = account in ledger.claimed_in(round_)
                        credits.append(CreditLine(task_id, round_, amount, claimed))
            return ContributorView(
                address=account,
                withdrawable=withdrawable,
                slots=slots,
                credits=credits,
                slashes=slashes,
                history=[_history_line(e) for e in events],
                report_errors=errors,
            )

    # ───────────────────────────────────────────────────────── helpers

    def _slot(self, task_id: int, account: str, joined_bond: int) -> SlotLine:
        slot = self.market.contributor(task_id, account)
        rewarded = slot["rewarded_rounds"]
        return SlotLine(
            task_id=task_id,
            joined_bond=joined_bond,
            bond_left=slot["bond"],
            first_round=slot["first_round"],
            rewarded_rounds=[r for r in range(rewarded.bit_length()) if rewarded >> r & 1],
        )

    def _task_info(self, task_id: int) -> TaskInfo:
        try:
            return self.market.task(task_id)
        except TaskNotFound as e:
            count = self.market.task_count()
            known = f"tasks are 1 to {count}" if count else "there are no tasks yet"
            raise NotFoundError(f"no task {task_id}: {known} (the market answers {e})") from None

    def _clock(self) -> _Clock:
        """The market's time and how far block time runs ahead of it (every pause so far)."""
        market_now = self.market.market_time()
        return _Clock(market_now, self.session.chain_time() - market_now)

    def _panel(self) -> set[str]:
        """The accounts on the validator panel now, from their events."""
        panel: set[str] = set()
        for e in self.session.events.all():
            if e["event"] == "ValidatorStaked":
                panel.add(e["args"]["validator"])
            elif e["event"] == "ValidatorUnstaked":
                panel.discard(e["args"]["validator"])
        return panel

    def _row(self, info: TaskInfo, clock: _Clock, rules: MarketRules) -> TaskRow:
        closed = info.status is TaskStatus.CLOSED
        current = None
        stake_needed = 0
        if not closed and info.current_round < info.rounds:
            current = self.market.round(info.task_id, info.current_round)
            stake_needed = _stake_needed(rules, info)
        spec = self._spec(info.spec_cid)
        submitting = current is not None and current.phase is RoundPhase.SUBMITTING
        rounds_to_work = info.rounds - info.current_round - (0 if submitting else 1)
        return TaskRow(
            task_id=info.task_id,
            status=info.status.name.lower(),
            phase="closed" if closed else current.phase.name.lower() if current else "done",
            round=min(info.current_round, info.rounds),
            rounds=info.rounds,
            bounty=info.total_funded,
            escrow=info.escrow,
            reserved=info.reserved,
            bonds_held=info.bonds_held,
            contributors=info.contributor_count,
            max_contributors=info.max_contributors,
            spec_cid=info.spec_cid,
            deadline=self._deadline(info, current, clock) if current else None,
            coordinator_stake=info.coordinator_stake,
            stake_needed=stake_needed,
            slashes_pending=info.slashes_pending,
            open_disputes=info.open_disputes,
            name=spec.name if spec else None,
            kind=spec.kind if spec else None,
            dataset=spec.dataset if spec else None,
            round_budget=_round_budget(info),
            joinable=not closed
            and info.contributor_count < info.max_contributors
            and rounds_to_work > 0,
        )

    def _spec(self, cid: str) -> TaskSpec | None:
        """The pinned spec at ``cid`` (``None`` if the store lacks it or it is not a spec)."""
        if cid not in self._specs:
            try:
                self._specs[cid] = spec_from_bytes(self.session.store.get(cid))
            except (StorageError, SpecError):
                self._specs[cid] = None
        return self._specs[cid]

    def _round_view(
        self, info: TaskInfo, ledger: TaskLedger, round_: int, clock: _Clock, rules: MarketRules
    ) -> RoundView:
        r = self.market.round(info.task_id, round_)
        posted = None
        record = ledger.posted.get(round_)
        if record and r.phase in (RoundPhase.CHALLENGE, RoundPhase.FINAL, RoundPhase.VOIDED):
            paid_under = ledger.paid_under(round_)
            posted = self._posted(info.task_id, paid_under, set(ledger.claimed_in(round_)))
            if paid_under is not record:
                posted = replace(posted, recomputed=True)
        dispute = None
        on_chain = self.market.dispute(info.task_id, round_)
        if on_chain.outcome is not DisputeOutcome.NONE:
            dispute = _dispute_view(on_chain, ledger.disputes.get(round_), record, clock, rules)
        open_round = info.status is TaskStatus.OPEN
        deadline = None
        if dispute is not None and dispute.open:
            deadline = dispute.deadline
        elif open_round:
            deadline = self._deadline(info, r, clock)
        expires = None
        if r.phase is RoundPhase.FINAL and r.total_credited:
            expires = r.challenge_deadline + rules.claim_window
        return RoundView(
            round=round_,
            phase=r.phase.name.lower(),
            commits=r.commits,
            reveals=r.reveals,
            total_credited=r.total_credited,
            claimed_total=r.claimed_total,
            submit_deadline=r.submit_deadline,
            reveal_deadline=r.reveal_deadline,
            challenge_deadline=r.challenge_deadline,
            deadline=deadline,
            posted=posted,
            credits_root=_hex(r.credits_root),
            slashes_digest=_hex(r.slashes_digest),
            slashed_total=r.slashed_total,
            dispute=dispute,
            claims_expire_at=expires,
        )

    def _deadline(self, info: TaskInfo, r: RoundInfo, clock: _Clock) -> Deadline | None:
        """The deadline that ends ``r``'s current phase (the holdout window comes before the
        merge window of a sealed task)."""
        if r.phase is RoundPhase.SUBMITTING:
            label, at = "submissions close", r.submit_deadline
        elif r.phase is RoundPhase.REVEALING:
            label, at = "reveals close", r.reveal_deadline
        elif r.phase is RoundPhase.UNSEALING:
            label, at = "sponsor reveals the holdout key", self._key_window_end(info, r)
        elif r.phase is RoundPhase.MERGING:
            label, at = "coordinator must post", self._key_window_end(info, r) + info.timing.merge
        elif r.phase is RoundPhase.CHALLENGE:
            label, at = "challenge window closes", r.challenge_deadline
        else:
            return None
        return clock.deadline(label, at)

    def _key_window_end(self, info: TaskInfo, r: RoundInfo) -> int:
        """When round ``r``'s holdout key window ends: its reveal deadline plus the task's
        window (none for a task without a sealed holdout)."""
        return r.reveal_deadline + self.market.holdout(info.task_id).reveal_duration

    def _posted(self, task_id: int, record: PostedRecord, claimed: set[str]) -> PostedRound:
        try:
            pinned = load_posted(self.session.store, task_id, record)
        except (ReportError, StorageError) as e:
            return PostedRound(
                merged_cid=record.merged_cid,
                report_cid=record.report_cid,
                credits_root="0x" + record.credits_root.hex(),
                total_credited=record.total_credited,
                metric=None,
                parent_metric=None,
                merged_metric=None,
                submissions=[],
                report_error=str(e),
            )
        posted = _posted_round(pinned, claimed)
        store = self.session.store
        lines = [
            replace(s, tried=tried(store, s.ledger_cid)) if s.ledger_cid else s
            for s in posted.submissions
        ]
        return replace(posted, submissions=lines)


def _posted_round(pinned: PinnedRound, claimed: set[str]) -> PostedRound:
    report: dict[str, Any] = pinned.report
    submissions = [
        SubmissionLine(
            author=s["author"],
            cid=s["cid"],
            status=s["status"],
            claimed=s.get("claimed"),
            measured=s.get("measured"),
            credit=int(s.get("credit_wei", 0)),
            reward_claimed=s["author"] in claimed,
            checks=[CheckLine(c["name"], c["passed"], c["reason"]) for c in s.get("checks", [])],
            holdout_metric=s.get("holdout_metric"),
            kept=_kept(s.get("recipe_changes")),
            ledger_cid=s.get("ledger_cid"),
            winning_recipe=s["author"] == report.get("recipe_author")
            and s.get("recipe") is not None,
        )
        for s in report.get("submissions", [])
    ]
    ideas = [
        IdeaLine(
            author=i["author"],
            round=i["round"],
            changes=describe(i["changes"]),
            adopted_by=list(i["adopted_by"]),
            credit=int(i["credit_wei"]),
        )
        for i in report.get("ideas", [])
    ]
    return PostedRound(
        merged_cid=pinned.merged_cid,
        report_cid=pinned.report_cid,
        credits_root="0x" + pinned.credits_root.hex(),
        total_credited=pinned.total_credited,
        metric=report.get("metric"),
        parent_metric=report.get("parent_metric"),
        merged_metric=report.get("merged_metric"),
        submissions=submissions,
        report_error=None,
        credited_on=report.get("credited_on", "val"),
        holdout_merged_metric=report.get("holdout_merged_metric"),
        holdout_forfeit=int(report.get("holdout_forfeit_wei", 0)),
        ideas=ideas,
        merge_step=report.get("merge_step"),
    )


def _kept(changes: Any) -> str | None:
    """A published search's changes as one line (``None``: nothing published)."""
    if not isinstance(changes, dict):
        return None
    return describe(changes) if changes else "nothing: the recipe it started from"


@dataclass(frozen=True)
class _Clock:
    """The market's time now, and block time less market time (the seconds paused so far)."""

    now: int
    paused_offset: int

    def deadline(self, label: str, at: int) -> Deadline:
        """A deadline at market time ``at``."""
        return Deadline(label, at + self.paused_offset, at - self.now)


def _round_budget(info: TaskInfo) -> int:
    """What the current round may credit, as the contract reckons it (0 when none is left)."""
    if info.status is not TaskStatus.OPEN or info.current_round >= info.rounds:
        return 0
    return info.escrow // (info.rounds - info.current_round)


def _stake_needed(rules: MarketRules, info: TaskInfo) -> int:
    """The stake the current round's post needs (0 when none is left to post)."""
    if info.status is not TaskStatus.OPEN:
        return 0
    return rules.stake_needed(info.escrow, info.rounds - info.current_round)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _dispute_view(
    d: DisputeInfo,
    record: DisputeRecord | None,
    posted: PostedRecord | None,
    clock: _Clock,
    rules: MarketRules,
) -> DisputeView:
    """A dispute as the chain tallies it, with who took part from its events."""
    challengers = list(record.challengers) if record else []
    votes = record.votes if record else {}
    tally: dict[bytes, int] = {}
    for candidate in votes.values():
        tally[candidate] = tally.get(candidate, 0) + 1
    candidates = [
        CandidateLine(
            candidate=_hex(key),
            credits_root=_hex(root),
            total_credited=total,
            report_cid=report_cid,
            votes=tally.get(key, 0),
            posted=key == d.posted_candidate,
        )
        for key, (root, total, report_cid) in (record.candidates.items() if record else ())
    ]
    if posted is not None and not any(c.posted for c in candidates):
        candidates.insert(
            0,
            CandidateLine(
                candidate=_hex(d.posted_candidate),
                credits_root=_hex(posted.credits_root),
                total_credited=posted.total_credited,
                report_cid=posted.report_cid,
                votes=0,
                posted=True,
            ),
        )
    is_open = d.outcome is DisputeOutcome.OPEN
    return DisputeView(
        outcome=d.outcome.name.lower(),
        vote_deadline=d.vote_deadline,
        deadline=clock.deadline("vote closes", d.vote_deadline) if is_open else None,
        bond=d.bond,
        challengers=challengers,
        voters=list(votes),
        votes=d.votes,
        leader_votes=d.leader_votes,
        tied=d.tied,
        quorum=rules.quorum,
        payout_per_winner=d.payout_per_winner,
        forfeited_stake=record.forfeited_stake if record else 0,
        refunded_to_escrow=record.refunded_to_escrow if record else 0,
        posted_candidate=_hex(d.posted_candidate),
        leader=_hex(d.leader),
        candidates=candidates,
    )


def _names(event: EventData, account: str) -> bool:
    return any(event["args"].get(key) == account for key in ACCOUNT_ARGS)


def _history_line(e: EventData) -> HistoryLine:
    a = e["args"]
    amount = next((a[k] for k in ("amount", "bond", "stake", "refundPool") if k in a), None)
    return HistoryLine(
        block=e["blockNumber"],
        tx="0x" + bytes(e["transactionHash"]).hex(),
        event=e["event"],
        task_id=a.get("taskId"),
        round=a.get("round"),
        amount=amount,
    )
