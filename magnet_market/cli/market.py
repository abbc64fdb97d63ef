"""Raw contract actions: tasks, claims, submissions, rounds, disputes, rewards, payouts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.table import Table

from magnet_market._atomic import write_atomic
from magnet_market.app import (
    Auditor,
    Ballot,
    Contributor,
    Coordinator,
    CreditTree,
    MarketView,
    Session,
    SlashReason,
    Sponsor,
    TaskInfo,
    Validator,
    credit_tree,
)
from magnet_market.app.content import latest_model, save_model
from magnet_market.app.market_view import DisputeView
from magnet_market.cli import main
from magnet_market.cli._common import (
    BYTES32,
    SLASH,
    SLASH_REASONS,
    WEI,
    F,
    console,
    emit_json,
    format_ether,
    json_option,
    key_value_table,
    out,
    print_table,
    task_filter_options,
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
    "holdout_seconds",
    "holdout_bond",
    "timeout_bps",
    "dishonest_bps",
    "bad_verification_bps",
)


@task.command("create")
@with_session(store=True)
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--spec-cid", default=None, help="Without SPEC: CID of an already pinned spec.")
@click.option(
    "--base",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With SPEC: a checkpoint of the spec's model to train on (default: a fresh one).",
)
@click.option("--bounty", type=WEI, default=None, help="Escrowed bounty, e.g. 3ether.")
@click.option("--coordinator", default=None, help="Coordinator address (default: yourself).")
@click.option("--rounds", default=2, show_default=True, help="Merge rounds (1-120).")
@click.option("--bond", type=WEI, default="0.01ether", show_default=True, help="Claim bond.")
@click.option("--max-contributors", default=8, show_default=True, help="Contributor slots.")
@click.option("--submit-seconds", default=3600, show_default=True, help="Submit phase length.")
@click.option("--reveal-seconds", default=1800, show_default=True, help="Reveal phase length.")
@click.option("--merge-seconds", default=3600, show_default=True, help="Coordinator deadline.")
@click.option("--challenge-seconds", default=3600, show_default=True, help="Challenge window.")
@click.option(
    "--holdout-seconds",
    default=1800,
    show_default=True,
    help="Sealed holdout: the sponsor's key window after each round's reveals.",
)
@click.option(
    "--holdout-bond",
    type=WEI,
    default="0.01ether",
    show_default=True,
    help="Sealed holdout: bond per round, forfeit to the round if its key is missed.",
)
@click.option("--timeout-bps", default=1_000, show_default=True, help="Timeout slash (bps).")
@click.option("--dishonest-bps", default=5_000, show_default=True, help="Dishonest claim (bps).")
@click.option("--bad-verification-bps", default=3_000, show_default=True, help="Bad work (bps).")
@json_option
def task_create(
    session: Session,
    spec: Path | None,
    spec_cid: str | None,
    base: Path | None,
    bounty: int | None,
    coordinator: str | None,
    rounds: int,
    bond: int,
    max_contributors: int,
    submit_seconds: int,
    reveal_seconds: int,
    merge_seconds: int,
    challenge_seconds: int,
    holdout_seconds: int,
    holdout_bond: int,
    timeout_bps: int,
    dishonest_bps: int,
    bad_verification_bps: int,
    as_json: bool,
) -> None:
    """Create a task and escrow its bounty.

    With SPEC (a TOML task spec): validate it, pin it and its base checkpoint (--base, a model
    you trained before, or a fresh one), and take rounds, bond, slots, timing and slash rates
    from it. Without SPEC: --spec-cid and --bounty name an already pinned spec and the options
    set the rest, checked like a spec's market section.
    """
    sponsor = Sponsor(session)
    if spec is not None:
        given = [n for n in (*_RAW_ONLY, "spec_cid") if _given(n)]
        if given:
            raise click.UsageError(f"with SPEC, set {', '.join(given)} in the spec file instead")
        published = sponsor.publish(load_spec(spec), coordinator, bounty, base)
    else:
        if base is not None:
            raise click.UsageError("--base goes with a SPEC file (a pinned spec has its base)")
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
                    "holdout": holdout_seconds,
                },
                "holdout_bond": holdout_bond,
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
@with_session(store=True)
@click.option(
    "--open",
    "open_only",
    is_flag=True,
    help="Only tasks you can join now: a free slot and a round left to work in (richest first).",
)
@task_filter_options
@json_option
def task_list(
    session: Session,
    open_only: bool,
    kind: str | None,
    min_reward_per_round: int | None,
    as_json: bool,
) -> None:
    """List the market's tasks (with name and kind when the store holds their specs)."""
    view = MarketView(session)
    rows = view.find_tasks(kind, min_reward_per_round or 0, open_only)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    title = "open tasks" if open_only else "tasks"
    table = Table(title=f"{title} on {session.network.name}")
    for col in ("id", "task", "status", "round", "round reward", "escrow", "slots"):
        table.add_column(col)
    table.add_column("spec", overflow="fold")
    for t in rows:
        table.add_row(
            str(t.task_id),
            f"{t.name} ({t.kind})" if t.name else "?",
            t.phase if t.status == "open" else t.status,
            f"{t.round}/{t.rounds}",
            format_ether(t.round_budget),
            format_ether(t.escrow),
            f"{t.contributors}/{t.max_contributors}",
            t.spec_cid,
        )
    print_table(table)


@task.command("show")
@with_session()
@click.argument("task_id", type=int)
@json_option
def task_show(session: Session, task_id: int, as_json: bool) -> None:
    """Show a task, its rounds, their disputes and its slashes."""
    view = MarketView(session).task(task_id)
    if as_json:
        data = _task_dict(view.info)
        data["stake_needed"] = view.stake_needed
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
                "slashes_digest": r.slashes_digest,
                "slashed_total": r.slashed_total,
                "claims_expire_at": r.claims_expire_at,
                "dispute": asdict(r.dispute) if r.dispute else None,
            }
            for r in view.rounds
        ]
        data["slashes"] = [asdict(s) for s in view.slashes]
        data["holdout"] = asdict(view.holdout)
        emit_json(data)
        return
    _print_task(view.info, view.stake_needed)
    if view.holdout.sealed:
        h = view.holdout
        out.print(
            f"sealed holdout: keys of {h.revealed_through}/{view.info.rounds} rounds on chain, "
            f"bond {format_ether(h.bond_per_round)} per round ({format_ether(h.bond_held)} held), "
            f"key window {h.reveal_duration}s after each round's reveals"
        )
    table = Table(title="rounds")
    for col in ("round", "phase", "commits", "reveals", "credited", "claimed", "slashed"):
        table.add_column(col)
    table.add_column("dispute")
    table.add_column("slashes digest", overflow="fold")
    zero = "0x" + "00" * 32
    for r in view.rounds:
        table.add_row(
            str(r.round),
            r.phase,
            str(r.commits),
            str(r.reveals),
            format_ether(r.total_credited),
            format_ether(r.claimed_total),
            format_ether(r.slashed_total) + (" (undone)" if r.slashes_undone else ""),
            _dispute_cell(r.dispute),
            "—" if r.slashes_digest == zero else r.slashes_digest,
        )
    print_table(table)
    if view.slashes:
        slashes = Table(title="slashes")
        for col in ("round", "contributor", "reason", "amount"):
            slashes.add_column(col)
        for sl in view.slashes:
            slashes.add_row(str(sl.round), sl.contributor, sl.reason, format_ether(sl.amount))
        print_table(slashes)


def _dispute_cell(dispute: DisputeView | None) -> str:
    if dispute is None:
        return "—"
    counts = f"{len(dispute.challengers)} challenged, {dispute.votes} voted"
    return f"{dispute.outcome} ({counts})"


def _print_task(info: TaskInfo, stake_needed: int | None = None) -> None:
    rows: list[tuple[str, object]] = [
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
        ("coordinator stake", format_ether(info.coordinator_stake)),
    ]
    if stake_needed:
        rows.append(("stake the current round needs", format_ether(stake_needed)))
    rows += [
        ("slashes pending", format_ether(info.slashes_pending)),
        ("open disputes", info.open_disputes),
    ]
    out.print(key_value_table(f"task {info.task_id}", rows))


@task.command("model")
@with_session(store=True)
@click.argument("task_id", type=int)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write it [default: task<ID>-round<R>.safetensors here].",
)
@click.option(
    "--packed",
    is_flag=True,
    help="Write the packed 2-bit inference checkpoint (for `magnet infer`) instead.",
)
@json_option
def task_model(
    session: Session, task_id: int, output: Path | None, packed: bool, as_json: bool
) -> None:
    """Fetch the task's newest model: the merged checkpoint of its last posted round, checked
    against the CID on chain (safetensors only)."""
    model = latest_model(session.market, session.events, task_id)
    suffix = "-packed" if packed else ""
    out = output or Path(f"task{task_id}-round{model.round}{suffix}.safetensors")
    ckpt = save_model(session.store, model, out, packed)
    shown = {
        "task_id": task_id,
        "round": model.round,
        "rounds": model.rounds,
        "final": model.final,
        "cid": model.cid,
        "kind": ckpt.kind,
        "path": str(out),
        "bytes": out.stat().st_size,
    }
    if as_json:
        emit_json(shown)
        return
    state = "final" if model.final else "still challengeable"
    last = "the task's last" if model.round == model.rounds - 1 else "not the last"
    print_table(key_value_table(f"task {task_id} model", list(shown.items())))
    console.print(f"round {model.round} is {state} ({last} round)")


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


@task.command("revert-slashes")
@with_session()
@click.argument("task_id", type=int)
def task_revert_slashes(session: Session, task_id: int) -> None:
    """Take back your slashes of TASK_ID's rounds that a dispute overturned or voided."""
    amount = Contributor(session).revert_slashes(task_id)
    if amount == 0:
        raise click.ClickException(
            f"{session.address} has no slash in an overturned or voided round of task {task_id}"
        )
    console.print(f"[green]✓[/] {format_ether(amount)} of slashes back in your bond")


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
    """Post rounds; challenge, vote on and resolve their disputes; expire old credits."""


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
    "--slash",
    "slashes",
    type=SLASH,
    multiple=True,
    help=f"Slash a contributor with the post: ADDRESS:REASON, REASON one of "
    f"{', '.join(SLASH_REASONS)} (repeatable).",
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
    slashes: tuple[tuple[str, SlashReason], ...],
    tree_out: Path | None,
) -> None:
    """Post the current round of TASK_ID with its slashes (coordinator only).

    Your stake in the task must cover the market's share of the round's budget first
    (`magnet coordinator stake`); the slashes reach the funders once the round is final.
    """
    credits = {a: int(v) for a, v in json.loads(credits_path.read_text()).items()}
    tree = credit_tree(credits)
    receipt = Coordinator(session).post(task_id, merged_cid, report_cid, tree, slashes)
    if tree and tree_out:
        write_atomic(tree_out, json.dumps(tree.dump(), indent=1))
    total = tree.total if tree else 0
    slashed = f", {len(slashes)} slashed" if slashes else ""
    tx_line(f"round posted, {format_ether(total)} credited{slashed}", receipt)


@round_.command("challenge")
@round_arguments
@click.option("--reason", required=True, help="Why (e.g. a CID of evidence).")
@click.confirmation_option(
    prompt="Challenging locks the task's claim bond until the validators decide. Continue?"
)
@json_option
def round_challenge(
    session: Session, task_id: int, round_index: int, reason: str, as_json: bool
) -> None:
    """Dispute a posted round in its challenge window, or join its open dispute.

    The first challenge opens the validators' vote; every challenger locks the task's claim
    bond, and shares the losers' bonds and the coordinator's stake if the round is overturned.
    """
    receipt = Auditor(session).challenge(task_id, round_index, reason)
    tx_line(f"round {round_index} of task {task_id} challenged", receipt)
    _show_dispute(session, task_id, round_index, as_json)


@round_.command("vote")
@round_arguments
@click.option("--posted", is_flag=True, help="Vote for the round as the coordinator posted it.")
@click.option("--credits-root", type=BYTES32, default=None, help="The recomputed credits root.")
@click.option("--total", type=WEI, default=None, help="The recomputed total credited.")
@click.option(
    "--slashes-digest",
    type=BYTES32,
    default=None,
    help="Digest of the recomputed slashes (default: none slashed).",
)
@click.option("--report-cid", default=None, help="CID of your recomputed round report.")
@click.confirmation_option(prompt="Voting locks the dispute's bond until it is decided. Continue?")
def round_vote(
    session: Session,
    task_id: int,
    round_index: int,
    posted: bool,
    credits_root: bytes | None,
    total: int | None,
    slashes_digest: bytes | None,
    report_cid: str | None,
) -> None:
    """Vote, as a staked validator, for the result you recomputed for a disputed round.

    Either --posted (you got what the coordinator posted) or --credits-root, --total and
    --report-cid (with --slashes-digest if you would slash anyone).
    """
    result = {
        "--credits-root": credits_root,
        "--total": total,
        "--slashes-digest": slashes_digest,
        "--report-cid": report_cid,
    }
    if posted:
        given = [name for name, value in result.items() if value is not None]
        if given:
            raise click.UsageError(f"--posted votes for the posted result: drop {', '.join(given)}")
    else:
        required = ("--credits-root", "--total", "--report-cid")
        missing = [name for name in required if result[name] is None]
        if missing:
            raise click.UsageError(
                f"give --posted, or the result you recomputed: missing {', '.join(missing)}"
            )
    validator = Validator(session)
    if posted:
        ballot = validator.posted_ballot(task_id, round_index)
    else:
        assert credits_root is not None and total is not None and report_cid is not None
        ballot = Ballot(credits_root, total, slashes_digest or bytes(32), report_cid)
    receipt = validator.vote(task_id, round_index, ballot)
    what = "the posted result" if posted else f"credits {format_ether(ballot.total_credited)}"
    tx_line(f"voted for {what} in round {round_index} of task {task_id}", receipt)


@round_.command("resolve")
@round_arguments
@json_option
def round_resolve(session: Session, task_id: int, round_index: int, as_json: bool) -> None:
    """Decide a round's dispute once its vote is over (anyone may)."""
    decided = Validator(session).resolve(task_id, round_index)
    console.print(
        f"[green]✓[/] dispute of round {round_index} of task {task_id} decided: "
        f"[bold]{_OUTCOMES.get(decided.outcome.name.lower(), decided.outcome.name)}[/]"
    )
    _show_dispute(session, task_id, round_index, as_json)


@round_.command("dispute")
@with_session()
@click.argument("task_id", type=int)
@click.argument("round_index", type=int)
@json_option
def round_dispute(session: Session, task_id: int, round_index: int, as_json: bool) -> None:
    """Show a round's dispute: outcome, challengers, votes and the results voted for."""
    _show_dispute(session, task_id, round_index, as_json)


@round_.command("payout")
@round_arguments
def round_payout(session: Session, task_id: int, round_index: int) -> None:
    """Book what a decided dispute owes you (then `magnet withdraw`)."""
    amount = Validator(session).claim_payout(task_id, round_index)
    if amount == 0:
        raise click.ClickException(
            f"the dispute of round {round_index} of task {task_id} owes {session.address} "
            "nothing (not decided yet, lost, or already booked)"
        )
    console.print(f"[green]✓[/] dispute payout of {format_ether(amount)} booked")


@round_.command("expire")
@round_arguments
def round_expire(session: Session, task_id: int, round_index: int) -> None:
    """Send a final round's credits unclaimed after the claim window back to the funders."""
    amount, receipt = Validator(session).expire_credits(task_id, round_index)
    tx_line(f"{format_ether(amount)} of unclaimed credits returned to the funders", receipt)


#: How a dispute's outcome reads.
_OUTCOMES = {
    "open": "open (the vote runs)",
    "posted_held": "posted result held",
    "overturned": "overturned (the coordinator's stake goes to the winners)",
    "no_quorum": "no quorum (the round is voided, every bond comes back)",
}


def _dispute_dict(task_id: int, round_index: int, dispute: DisputeView | None) -> dict:
    if dispute is None:
        return {"task_id": task_id, "round": round_index, "outcome": "none"}
    return {"task_id": task_id, "round": round_index, **asdict(dispute)}


def _show_dispute(session: Session, task_id: int, round_index: int, as_json: bool) -> None:
    view = MarketView(session).round(task_id, round_index)
    dispute = view.dispute
    if as_json:
        emit_json(_dispute_dict(task_id, round_index, dispute))
        return
    if dispute is None:
        out.print(f"round {round_index} of task {task_id} was never challenged ({view.phase})")
        return
    deadline = (
        f"{dispute.vote_deadline} (in {dispute.deadline.remaining} s)"
        if dispute.deadline and dispute.deadline.remaining > 0
        else f"{dispute.vote_deadline} (over)"
    )
    rows: list[tuple[str, object]] = [
        ("outcome", _OUTCOMES.get(dispute.outcome, dispute.outcome)),
        ("round phase", view.phase),
        ("vote deadline (market time)", deadline),
        ("bond per challenge or vote", format_ether(dispute.bond)),
        ("challengers", f"{len(dispute.challengers)}: {', '.join(dispute.challengers)}"),
        ("votes", f"{dispute.votes} (quorum {dispute.quorum})"),
        ("leader votes", f"{dispute.leader_votes}{' (tied)' if dispute.tied else ''}"),
        ("posted result", dispute.posted_candidate),
        ("leading result", dispute.leader),
    ]
    if not dispute.open:
        rows += [
            ("payout per winner", format_ether(dispute.payout_per_winner)),
            ("coordinator stake forfeited", format_ether(dispute.forfeited_stake)),
            ("credits back to escrow", format_ether(dispute.refunded_to_escrow)),
        ]
    print_table(key_value_table(f"dispute of round {round_index} of task {task_id}", rows))
    if dispute.candidates:
        table = Table(title="results voted for")
        for col in ("result", "votes", "credits root", "total", "report"):
            table.add_column(col, overflow="fold")
        for c in dispute.candidates:
            table.add_row(
                f"{c.candidate}{' (posted)' if c.posted else ''}",
                str(c.votes),
                c.credits_root,
                format_ether(c.total_credited),
                c.report_cid,
            )
        print_table(table)


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
    """Claim a credited reward with its Merkle proof: paid at once when it is yours, booked to
    the credited account's balance (then `magnet withdraw`) when claimed for another."""
    tree = CreditTree.load(json.loads(tree_path.read_text()))
    who = beneficiary or session.address
    amount, receipt = Contributor(session).claim_reward(task_id, round_index, tree, who)
    done = "paid to you" if who.lower() == session.address.lower() else f"booked for {who}"
    tx_line(f"reward of {format_ether(amount)} {done}", receipt)


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
