"""The roles' commands: ``magnet contributor run``, ``magnet coordinator run|stake|release-stake``,
``magnet sponsor run``, ``magnet validator run|stake|unstake|show`` and ``magnet verify round``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from magnet_market.app import Contributor, Coordinator, DisputeInfo, MarketView, Session, Validator
from magnet_market.app.market_view import ValidatorView
from magnet_market.app.sponsor import HoldoutRevealer
from magnet_market.app.validator import verify_round
from magnet_market.cli import main
from magnet_market.cli._common import (
    WEI,
    console,
    emit_json,
    format_ether,
    json_option,
    key_value_table,
    print_table,
    task_filter_options,
    tx_line,
    with_session,
)

F = TypeVar("F", bound=Callable[..., Any])


def role_options(f: F) -> F:
    """A session with its store, TASK_ID, --workdir and --poll: what every role command takes."""
    return _role_options(f, task_required=True)


def role_options_task_or_auto(f: F) -> F:
    """:func:`role_options` with TASK_ID optional (the contributor's ``--auto`` finds tasks)."""
    return _role_options(f, task_required=False)


def _role_options(f: F, task_required: bool) -> F:
    f = click.option(
        "--poll", default=1.0, show_default=True, help="Seconds between chain checks."
    )(f)
    f = click.option(
        "--workdir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Scratch folder for checkpoints (default: $MAGNET_HOME/work/<role>).",
    )(f)
    f = click.argument("task_id", type=int, required=task_required)(f)
    return with_session(store=True)(f)


@main.group()
def contributor() -> None:
    """Train for tasks and get paid."""


@contributor.command("run")
@role_options_task_or_auto
@click.option(
    "--auto",
    is_flag=True,
    help="Find the work: join open tasks (richest round first; --kind and "
    "--min-reward-per-round narrow them), train them, move on as they close; take up again the "
    "tasks an earlier run left unfinished. Ends when none is left.",
)
@click.option(
    "--max-tasks",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --auto: tasks held at once.",
)
@task_filter_options
@click.option(
    "--keep-watching", is_flag=True, help="With --auto: wait for new tasks instead of ending."
)
@click.option(
    "--claim-bias",
    default=0.0,
    hidden=True,
    help="Added to the measured metric before claiming (demo of a dishonest claim).",
)
@click.option(
    "--corrupt",
    is_flag=True,
    hidden=True,
    help="Upload truncated checkpoints (demo of a rejection).",
)
@click.option(
    "--isolated",
    is_flag=True,
    help="Search alone: every round from the spec's recipe, without the recipes and ledgers "
    "other contributors published (they still get yours).",
)
@json_option
def contributor_run(
    session: Session,
    task_id: int | None,
    workdir: Path | None,
    poll: float,
    auto: bool,
    max_tasks: int,
    kind: str | None,
    min_reward_per_round: int | None,
    keep_watching: bool,
    claim_bias: float,
    corrupt: bool,
    isolated: bool,
    as_json: bool,
) -> None:
    """Claim a slot in TASK_ID, train every round, claim rewards and withdraw (restartable);
    or, with --auto and no TASK_ID, find open tasks and do the same for each."""
    if auto == (task_id is not None):
        raise click.UsageError("give either TASK_ID or --auto")
    worker = Contributor(session, workdir, swarm=not isolated)
    if task_id is None:
        _run_auto(
            session, worker, max_tasks, kind, min_reward_per_round, keep_watching, poll, as_json
        )
        return
    summary = worker.run(
        task_id, claim_bias=claim_bias, poll=poll, on_progress=console.print, corrupt=corrupt
    )
    if as_json:
        emit_json(asdict(summary))
        return
    console.print(
        f"[green]✓[/] {len(summary.rounds)} rounds, rewards {format_ether(summary.rewards)}, "
        f"withdrew {format_ether(summary.withdrawn)}"
    )


def _run_auto(
    session: Session,
    worker: Contributor,
    max_tasks: int,
    kind: str | None,
    least: int | None,
    keep_watching: bool,
    poll: float,
    as_json: bool,
) -> None:
    view = MarketView(session)

    def open_tasks() -> list[int]:  # a task whose spec the store cannot give cannot be trained
        rows = view.find_tasks(kind, least or 0, open_only=True)
        return [r.task_id for r in rows if r.kind is not None]

    done = worker.run_auto(open_tasks, max_tasks, poll, console.print, keep_watching)
    if as_json:
        emit_json([asdict(s) for s in done])
        return
    rewards = sum(s.rewards for s in done)
    console.print(f"[green]✓[/] {len(done)} tasks finished, rewards {format_ether(rewards)}")


@main.group()
def sponsor() -> None:
    """Keep a task's sealed holdout: reveal each round's key on time."""


@sponsor.command("run")
@role_options
@json_option
def sponsor_run(
    session: Session, task_id: int, workdir: Path | None, poll: float, as_json: bool
) -> None:
    """Reveal TASK_ID's holdout key of every round once its submissions are fixed, until the
    last round is posted (restartable: what is revealed is read from the chain)."""
    revealed = HoldoutRevealer(session, workdir).run(task_id, poll=poll, on_progress=console.print)
    if as_json:
        emit_json({"task_id": task_id, "revealed_rounds": revealed})
        return
    console.print(f"[green]✓[/] task {task_id}: {len(revealed)} holdout keys revealed by this run")


@main.group()
def coordinator() -> None:
    """Merge rounds, pay contributors, and hold the stake that vouches for the merges."""


@coordinator.command("run")
@role_options
@click.option(
    "--credit-sybil-in",
    "sybil_rounds",
    type=int,
    multiple=True,
    hidden=True,
    help="Play a dishonest coordinator: credit this round's budget to a Sybil (demo, tests).",
)
@json_option
def coordinator_run(
    session: Session,
    task_id: int,
    workdir: Path | None,
    poll: float,
    sybil_rounds: tuple[int, ...],
    as_json: bool,
) -> None:
    """Merge TASK_ID's rounds as they become ready, then close it (restartable)."""
    worker = Coordinator(session, workdir)
    posted = worker.run(
        task_id, poll=poll, on_progress=console.print, sybil_rounds=frozenset(sybil_rounds)
    )
    if as_json:
        emit_json(
            [
                {
                    "round": p.round,
                    "merged_cid": p.merged_cid,
                    "report_cid": p.report_cid,
                    "merged_metric": p.report.merged_metric,
                    "total_credited": p.total_credited,
                    "slashed": [[who, reason.name.lower()] for who, reason in p.slashed],
                }
                for p in posted
            ]
        )


@coordinator.command("stake")
@with_session()
@click.argument("task_id", type=int)
@click.argument("amount", type=WEI, required=False)
def coordinator_stake(session: Session, task_id: int, amount: int | None) -> None:
    """Add AMOUNT to your stake as TASK_ID's coordinator (default: what the current round
    still needs).

    Posting a round needs a stake of the market's share of that round's budget (see
    `magnet task show`); a dispute that overturns a round gives the whole stake to its winners.
    It comes back with `magnet coordinator release-stake` once the task is closed.
    """
    if amount == 0:
        raise click.BadParameter("stake a positive amount", param_hint="AMOUNT")
    view = MarketView(session)
    worker = Coordinator(session)
    if amount is None:
        _, needed = view.round_budget(task_id)
        added = worker.stake_for(task_id)
        stake = view.task_info(task_id).coordinator_stake
        if not added:
            console.print(
                f"stake {format_ether(stake)} already covers the {format_ether(needed)} "
                f"the current round of task {task_id} needs"
            )
            return
        console.print(f"[green]✓[/] staked {format_ether(added)}; stake now {format_ether(stake)}")
        return
    receipt = worker.stake(task_id, amount)
    stake = view.task_info(task_id).coordinator_stake
    tx_line(
        f"staked {format_ether(amount)} on task {task_id}; stake now {format_ether(stake)}", receipt
    )
    _, needed = view.round_budget(task_id)
    if needed > stake:
        console.print(
            f"[yellow]the current round needs {format_ether(needed)} staked to be posted[/]"
        )


@coordinator.command("release-stake")
@with_session()
@click.argument("task_id", type=int)
def coordinator_release_stake(session: Session, task_id: int) -> None:
    """Book your stake of a closed task back to you (then `magnet withdraw`)."""
    stake = MarketView(session).task_info(task_id).coordinator_stake
    receipt = Coordinator(session).release_stake(task_id)
    tx_line(f"stake of {format_ether(stake)} on task {task_id} released", receipt)


# ───────────────────────────────────────────────────────────────── validators


@main.group()
def validator() -> None:
    """Sit on the validator panel and vote on disputed rounds."""


@validator.command("run")
@role_options
@json_option
def validator_run(
    session: Session, task_id: int, workdir: Path | None, poll: float, as_json: bool
) -> None:
    """Guard TASK_ID: judge every posted round again, challenge and vote when it disagrees,
    resolve and collect (stakes first if needed; restartable)."""
    disputes = Validator(session, workdir).run(task_id, poll=poll, on_progress=console.print)
    if as_json:
        emit_json([_dispute_dict(d) for d in disputes])


def _dispute_dict(dispute: DisputeInfo) -> dict[str, object]:
    return {
        "round": dispute.round,
        "outcome": dispute.outcome.name.lower(),
        "challengers": dispute.challengers,
        "votes": dispute.votes,
        "leader_votes": dispute.leader_votes,
        "payout_per_winner": dispute.payout_per_winner,
    }


@main.group()
def verify() -> None:
    """Recompute what was posted, from chain events and content alone."""


@verify.command("round")
@with_session(store=True)
@click.argument("task_id", type=int)
@click.argument("round_index", metavar="ROUND", type=int)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Scratch folder for checkpoints (default: $MAGNET_HOME/work/validator).",
)
@json_option
def verify_round_command(
    session: Session, task_id: int, round_index: int, workdir: Path | None, as_json: bool
) -> None:
    """Judge ROUND of TASK_ID again (verify, merge, credit, slash) and compare the report with
    the posted one. Exits 1 when they differ."""
    check = verify_round(session, task_id, round_index, workdir)
    if as_json:
        emit_json(check.as_dict())
    else:
        rows = [(key.replace("_", " "), value) for key, value in check.as_dict().items()]
        print_table(key_value_table(f"round {round_index} of task {task_id}", rows))
    if not check.matches_posted:
        raise SystemExit(1)


@validator.command("stake")
@with_session()
@click.confirmation_option(prompt="Lock the market's validator stake to join the panel?")
@json_option
def validator_stake(session: Session, as_json: bool) -> None:
    """Join the validator panel, locking the market's validator stake.

    Only disputes opened after you staked count your votes; each vote locks the dispute's bond
    (`magnet round vote`).
    """
    receipt = Validator(session).stake()
    view = MarketView(session).validator(session.address)
    if as_json:
        emit_json(asdict(view))
        return
    tx_line(f"{view.address} joined the validator panel with {format_ether(view.stake)}", receipt)
    _print_validator(view)


@validator.command("unstake")
@with_session()
def validator_unstake(session: Session) -> None:
    """Leave the validator panel; the stake becomes withdrawable (`magnet withdraw`)."""
    view = MarketView(session)
    stake = view.validator(session.address).stake
    receipt = Validator(session).unstake()
    tx_line(
        f"{session.address} left the validator panel; {format_ether(stake)} to withdraw", receipt
    )


@validator.command("show")
@with_session()
@click.argument("address", required=False)
@json_option
def validator_show(session: Session, address: str | None, as_json: bool) -> None:
    """Show ADDRESS's seat on the validator panel and its votes (default: yourself)."""
    view = MarketView(session).validator(address or session.address)
    if as_json:
        emit_json(asdict(view))
        return
    _print_validator(view)


def _print_validator(view: ValidatorView) -> None:
    seat = (
        f"staked {format_ether(view.stake)} at market time {view.since}"
        if view.staked
        else f"not on the panel (a seat locks {format_ether(view.required_stake)})"
    )
    rows: list[tuple[str, object]] = [
        ("address", view.address),
        ("seat", seat),
        ("panel", f"{view.panel_size} validators, {format_ether(view.panel_stake)} staked"),
        ("disputes", f"{view.vote_seconds} s to vote, quorum {view.quorum}"),
        ("votes cast", len(view.votes)),
    ]
    print_table(key_value_table("validator", rows))
    if view.votes:
        table = Table(title="votes")
        for col in ("task", "round", "voted for", "outcome"):
            table.add_column(col)
        for v in view.votes:
            what = "the posted result" if v.for_posted else v.candidate
            table.add_row(str(v.task_id), str(v.round), what, v.outcome)
        print_table(table)
