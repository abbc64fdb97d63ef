"""Raw contract actions: tasks, claims, submissions, rounds, rewards, slashes, payouts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.table import Table

from magnet_market._atomic import write_atomic
from magnet_market.app import (
    Auditor,
    Contributor,
    Coordinator,
    CreditTree,
    MarketView,
    Owner,
    Session,
    SlashReason,
    Sponsor,
    TaskInfo,
    credit_tree,
)
from magnet_market.cli import main
from magnet_market.cli._common import (
    WEI,
    F,
    console,
    emit_json,
    format_ether,
    json_option,
    key_value_table,
    out,
    print_table,
    tx_line,
    with_session,
)
from magnet_market.tasks.spec import load_spec, parse_market


def _task_dict(task: TaskInfo) -> dict[str, object]:
    data = asdict(task)
    data["status"] = task.status.name.lower()
    return data


# ───────────────────────────────────────────────────────────────── tasks


@main.group()
def task() -> None:
    """Create, fund, inspect and close tasks."""


_RAW_ONLY = (
    "rounds",
    "bond",
    "max_contributors",
    "submit_seconds",
    "reveal_seconds",
    "merge_seconds",
    "challenge_seconds",
    "timeout_bps",
    "dishonest_bps",
    "bad_verification_bps",
)


@task.command("create")
@with_session(store=True)
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--spec-cid", default=None, help="Without SPEC: CID of an already pinned spec.")
@click.option("--bounty", type=WEI, default=None, help="Escrowed bounty, e.g. 3ether.")
@click.option("--coordinator", default=None, help="Coordinator address (default: yourself).")
@click.option("--rounds", default=2, show_default=True, help="Merge rounds (1-120).")
@click.option("--bond", type=WEI, default="0.01ether", show_default=True, help="Claim bond.")
@click.option("--max-contributors", default=8, show_default=True, help="Contributor slots.")
@click.option("--submit-seconds", default=3600, show_default=True, help="Submit phase length.")
@click.option("--reveal-seconds", default=1800, show_default=True, help="Reveal phase length.")
@click.option("--merge-seconds", default=3600, show_default=True, help="Coordinator deadline.")
@click.option("--challenge-seconds", default=3600, show_default=True, help="Challenge window.")
@click.option("--timeout-bps", default=1_000, show_default=True, help="Timeout slash (bps).")
@click.option("--dishonest-bps", default=5_000, show_default=True, help="Dishonest claim (bps).")
@click.option("--bad-verification-bps", default=3_000, show_default=True, help="Bad work (bps).")
@json_option
def task_create(
    session: Session,
    spec: Path | None,
    spec_cid: str | None,
    bounty: int | None,
    coordinator: str | None,
    rounds: int,
    bond: int,
    max_contributors: int,
    submit_seconds: int,
    reveal_seconds: int,
    merge_seconds: int,
    challenge_seconds: int,
    timeout_bps: int,
    dishonest_bps: int,
    bad_verification_bps: int,
    as_json: bool,
) -> None:
    """Create a task and escrow its bounty.

    With SPEC (a TOML task spec): validate it, pin it and its base checkpoint, and take rounds,
    bond, slots, timing and slash rates from it. Without SPEC: --spec-cid and --bounty name an
    already pinned spec and the options set the rest, checked like a spec's market section.
    """
    sponsor = Sponsor(session)
    if spec is not None:
        given = [n for n in (*_RAW_ONLY, "spec_cid") if _given(n)]
        if given:
            raise click.UsageError(f"with SPEC, set {', '.join(given)} in the spec file instead")
        published = sponsor.publish(load_spec(spec), coordinator, bounty)
    else:
        if spec_cid is None or bounty is None:
            raise click.UsageError("give a SPEC file, or --spec-cid and --bounty")
        terms = parse_market(
            {
                "bounty": bounty,
                "claim_bond": bond,
                "max_contributors": max_contributors,
                "timing": {
                    "submit": submit_seconds,
                    "reveal": reveal_seconds,
                    "merge": merge_seconds,
                    "challenge": challenge_seconds,
                },
                "timeout_bps": timeout_bps,
                "dishonest_claim_bps": dishonest_bps,
                "bad_verification_bps": bad_verification_bps,
            }
        )
        published = sponsor.create(spec_cid, rounds, terms, coordinator)
    info = sponsor.task(published.task_id)
    if as_json:
        emit_json(_task_dict(info))
        return
    tx_line(f"task {published.task_id} created with {format_ether(info.escrow)}", published.receipt)
    _print_task(info)


def _given(name: str) -> bool:
    source = click.get_current_context().get_parameter_source(name)
    return source not in (None, click.core.ParameterSource.DEFAULT)


@task.command("fund")
@with_session()
@click.argument("task_id", type=int)
@click.argument("amount", type=WEI)
def task_fund(session: Session, task_id: int, amount: int) -> None:
    """Add AMOUNT to TASK_ID's escrow."""
    receipt = Sponsor(session).fund(task_id, amount)
    tx_line(f"funded task {task_id} with {format_ether(amount)}", receipt)


@task.command("list")
@with_session()
@json_option
def task_list(session: Session, as_json: bool) -> None:
    """List every task."""
    view = MarketView(session)
    if as_json:
        emit_json([_task_dict(t) for t in view.task_infos()])
        return
    table = Table(title=f"tasks on {session.network.name}")
    for col in ("id", "status", "round", "escrow", "reserved", "slots"):
        table.add_column(col)
    table.add_column("spec", overflow="fold")
    for t in reversed(view.tasks()):
        table.add_row(
            str(t.task_id),
            t.status,
            f"{t.round}/{t.rounds}",
            format_ether(t.escrow),
            format_ether(t.reserved),
            f"{t.contributors}/{t.max_contributors}",
            t.spec_cid,
        )
    print_table(table)


@task.command("show")
@with_session()
@click.argument("task_id", type=int)
@json_option
def task_show(session: Session, task_id: int, as_json: bool) -> None:
    """Show a task, its rounds and its slashes."""
    view = MarketView(session).task(task_id)
    if as_json:
        data = _task_dict(view.info)
        data["round_states"] = [
            {
                "task_id": task_id,
                "round": r.round,
                "phase": r.phase,
                "submit_deadline": r.submit_deadline,
                "reveal_deadline": r.reveal_deadline,
                "challenge_deadline": r.challenge_deadline,
                "commits": r.commits,
                "reveals": r.reveals,
                "credits_root": r.credits_root,
                "total_credited": r.total_credited,
                "claimed_total": r.claimed_total,
                "challenger": r.challenger,
                "challenge_bond": r.challenge_bond,
            }
            for r in view.rounds
        ]
        data["slashes"] = [asdict(s) for s in view.slashes]
        emit_json(data)
        return
    _print_task(view.info)
    table = Table(title="rounds")
    for col in ("round", "phase", "commits", "reveals", "credited", "claimed"):
        table.add_column(col)
    for r in view.rounds:
        table.add_row(
            str(r.round),
            r.phase,
            str(r.commits),
            str(r.reveals),
            format_ether(r.total_credited),
            format_ether(r.claimed_total),
        )
    out.print(table)
    if view.slashes:
        slashes = Table(title="slashes")
        for col in ("round", "contributor", "reason", "amount"):
            slashes.add_column(col)
        for sl in view.slashes:
            slashes.add_row(str(sl.round), sl.contributor, sl.reason, format_ether(sl.amount))
        out.print(slashes)


def _print_task(info: TaskInfo) -> None:
    out.print(
        key_value_table(
            f"task {info.task_id}",
            [
                ("status", info.status.name.lower()),
                ("spec", info.spec_cid),
                ("sponsor", info.sponsor),
                ("coordinator", info.coordinator),
                ("round", f"{min(info.current_round, info.rounds)} of {info.rounds}"),
                ("escrow", format_ether(info.escrow)),
                ("reserved credits", format_ether(info.reserved)),
                ("bonds held", format_ether(info.bonds_held)),
                ("claim bond", format_ether(info.claim_bond)),
                ("contributors", f"{info.contributor_count}/{info.max_contributors}"),
                ("slash rates (bps)", "/".join(map(str, info.rates.as_tuple()))),
            ],
        )
    )


@task.command("close")
@with_session()
@click.argument("task_id", type=int)
@click.confirmation_option(prompt="Close the task? Unspent escrow goes back to its funders.")
def task_close(session: Session, task_id: int) -> None:
    """Close TASK_ID (sponsor cancel, all rounds done, or a stalled coordinator)."""
    tx_line(f"task {task_id} closed", Sponsor(session).close(task_id))


@task.command("refund")
@with_session()
@click.argument("task_id", type=int)
def task_refund(session: Session, task_id: int) -> None:
    """Book your pro-rata refund of a closed task (then `magnet withdraw`)."""
    tx_line(f"refund of task {task_id} booked", Sponsor(session).refund(task_id))


@task.command("release-bond")
@with_session()
@click.argument("task_id", type=int)
def task_release_bond(session: Session, task_id: int) -> None:
    """Book your remaining bond of a closed task (then `magnet withdraw`)."""
    tx_line(f"bond of task {task_id} booked", Contributor(session).release_bond(task_id))


# ───────────────────────────────────────────────────────────────── contributors


@main.command()
@with_session()
@click.argument("task_id", type=int)
def claim(session: Session, task_id: int) -> None:
    """Take a contributor slot in TASK_ID, locking its claim bond."""
    bond, receipt = Contributor(session).claim(task_id)
    tx_line(f"joined task {task_id} (bond {format_ether(bond)})", receipt)


@main.command()
@with_session()
@click.argument("task_id", type=int)
@click.option("--cid", required=True, help="CID of your checkpoint.")
@click.option("--metric", required=True, help="Your claimed validation metric, e.g. 1.234.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait for reveals.")
@json_option
def submit(
    session: Session, task_id: int, cid: str, metric: str, timeout: float, as_json: bool
) -> None:
    """Commit to a checkpoint CID, wait for reveals to open, then reveal it (resumable)."""
    with console.status("committing…") as status:
        result = Contributor(session).submit(
            task_id,
            cid,
            metric,
            reveal_timeout=timeout,
            on_wait=lambda phase: status.update(
                f"waiting for reveals (round is {phase.name.lower()})"
            ),
        )
    if as_json:
        emit_json(asdict(result))
        return
    earlier = {True: "", False: " (earlier)"}
    console.print(
        f"[green]✓[/] round {result.round}: committed{earlier[result.committed_now]}, "
        f"revealed{earlier[result.revealed_now]} {cid} with metric {metric}"
    )


# ───────────────────────────────────────────────────────────────── rounds


def round_arguments(f: F) -> F:
    """A session, TASK_ID and ROUND_INDEX: what every per-round action takes."""
    f = click.argument("round_index", type=int)(f)
    return with_session()(click.argument("task_id", type=int)(f))


@main.group("round")
def round_() -> None:
    """Post, challenge and resolve rounds."""


@round_.command("post")
@with_session()
@click.argument("task_id", type=int)
@click.option("--merged-cid", required=True, help="CID of the merged checkpoint.")
@click.option("--report-cid", required=True, help="CID of the round report.")
@click.option(
    "--credits",
    "credits_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help='JSON object {"0xaddress": wei, ...}.',
)
@click.option(
    "--tree-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the Merkle tree (standard-v1 JSON) contributors claim with.",
)
def round_post(
    session: Session,
    task_id: int,
    merged_cid: str,
    report_cid: str,
    credits_path: Path,
    tree_out: Path | None,
) -> None:
    """Post the current round of TASK_ID (coordinator only)."""
    credits = {a: int(v) for a, v in json.loads(credits_path.read_text()).items()}
    tree = credit_tree(credits)
    receipt = Coordinator(session).post(task_id, merged_cid, report_cid, tree)
    if tree and tree_out:
        write_atomic(tree_out, json.dumps(tree.dump(), indent=1))
    total = sum(amount for _, amount in tree.values) if tree else 0
    tx_line(f"round posted, {format_ether(total)} credited", receipt)


@round_.command("challenge")
@round_arguments
@click.option("--reason", required=True, help="Why (e.g. a CID of evidence).")
@click.confirmation_option(prompt="Challenging locks the task's claim bond. Continue?")
def round_challenge(session: Session, task_id: int, round_index: int, reason: str) -> None:
    """Dispute a posted round during its challenge window."""
    receipt = Auditor(session).challenge(task_id, round_index, reason)
    tx_line(f"round {round_index} of task {task_id} challenged", receipt)


@round_.command("resolve")
@round_arguments
@click.option("--upheld/--rejected", required=True, help="Whether the challenge is right.")
def round_resolve(session: Session, task_id: int, round_index: int, upheld: bool) -> None:
    """Settle a challenge (owner only)."""
    receipt = Owner(session).resolve_challenge(task_id, round_index, upheld)
    tx_line(f"challenge {'upheld' if upheld else 'rejected'}", receipt)


@main.command()
@round_arguments
@click.argument("contributor")
@click.argument("reason", type=click.Choice([r.name.lower() for r in SlashReason]))
def slash(session: Session, task_id: int, round_index: int, contributor: str, reason: str) -> None:
    """Slash CONTRIBUTOR's bond for REASON in a round (coordinator only)."""
    receipt = Coordinator(session).slash(
        task_id, round_index, contributor, SlashReason[reason.upper()]
    )
    tx_line(f"{contributor} slashed for {reason}", receipt)


# ───────────────────────────────────────────────────────────────── money


@main.group()
def reward() -> None:
    """Claim credited rewards."""


@reward.command("claim")
@round_arguments
@click.option(
    "--tree",
    "tree_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The round's Merkle tree (standard-v1 JSON, from the round report).",
)
@click.option("--for", "beneficiary", default=None, help="Credited address (default: yourself).")
def reward_claim(
    session: Session, task_id: int, round_index: int, tree_path: Path, beneficiary: str | None
) -> None:
    """Book a credited reward with its Merkle proof (then `magnet withdraw`)."""
    tree = CreditTree.load(json.loads(tree_path.read_text()))
    who = beneficiary or session.address
    amount, receipt = Contributor(session).claim_reward(task_id, round_index, tree, who)
    tx_line(f"reward of {format_ether(amount)} booked for {who}", receipt)


@main.command()
@with_session()
@click.confirmation_option(prompt="Withdraw your whole balance?")
def withdraw(session: Session) -> None:
    """Receive your whole withdrawable balance."""
    amount, receipt = Contributor(session).withdraw()
    if receipt is None:
        raise click.ClickException(f"{session.address} has nothing to withdraw")
    tx_line(f"withdrew {format_ether(amount)}", receipt)


@main.group()
def payouts() -> None:
    """Check the money."""


@payouts.command("verify")
@with_session(store=True)
@click.argument("task_id", type=int)
@click.option(
    "--no-reports", is_flag=True, help="Check events and contract state only (no content store)."
)
@json_option
def payouts_verify(session: Session, task_id: int, no_reports: bool, as_json: bool) -> None:
    """Rebuild TASK_ID's books from events and pinned round reports; exit 1 on any mismatch.

    Events give escrow, credits, bonds and refunds, reconciled with the contract's state; each
    round's pinned report must rebuild the posted Merkle root, add up to the posted total, and
    match every reward claimed.
    """
    audit = Auditor(session).verify_payouts(task_id, reports=not no_reports)
    if as_json:
        emit_json(audit.as_dict())
    else:
        table = Table(title=f"payouts of task {task_id}")
        for col in ("check", "from events", "on chain", ""):
            table.add_column(col)
        for c in audit.checks:
            table.add_row(
                c.name, str(c.expected), str(c.actual), "[green]ok" if c.ok else "[red]MISMATCH"
            )
        out.print(table)
        for problem in audit.problems:
            out.print(f"[red]problem:[/] {problem}")
        out.print("[green]payouts verified[/]" if audit.ok else "[red]payouts do NOT verify[/]")
    if not audit.ok:
        raise SystemExit(1)
