"""Raw contract actions: tasks, claims, submissions, rounds, rewards, slashes, payouts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.table import Table

from magnet_market.chain.merkle import CreditTree
from magnet_market.chain.submission import scale_metric, submit_checkpoint
from magnet_market.chain.types import SlashRates, SlashReason, TaskInfo, Timing
from magnet_market.cli import main
from magnet_market.cli._common import (
    WEI,
    F,
    console,
    emit_json,
    event_reader,
    format_ether,
    json_option,
    key_value_table,
    network_options,
    open_market,
    open_store,
    out,
    store_options,
    tx_line,
)
from magnet_market.reports import verify_payouts
from magnet_market.sponsor import publish_task
from magnet_market.tasks.spec import load_spec


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
@network_options
@store_options
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
@click.pass_context
def task_create(
    ctx: click.Context,
    network: str,
    account: str | None,
    ipfs_api: str | None,
    store_path: Path | None,
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
    already pinned spec and the options set the rest.
    """
    if spec is not None:
        given = [n for n in (*_RAW_ONLY, "spec_cid") if _given(ctx, n)]
        if given:
            raise click.UsageError(f"with SPEC, set {', '.join(given)} in the spec file instead")
        task_spec = load_spec(spec)
        client = open_market(network, account)
        assert client.signer is not None
        published = publish_task(
            task_spec,
            open_store(ipfs_api, store_path),
            client,
            coordinator or client.signer.address,
            bounty,
        )
        task_id, receipt = published.task_id, published.receipt
    else:
        if spec_cid is None or bounty is None:
            raise click.UsageError("give a SPEC file, or --spec-cid and --bounty")
        try:
            rates = SlashRates(timeout_bps, dishonest_bps, bad_verification_bps)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
        timing = Timing(submit_seconds, reveal_seconds, merge_seconds, challenge_seconds)
        client = open_market(network, account)
        assert client.signer is not None
        task_id, receipt = client.create_task(
            spec_cid,
            coordinator or client.signer.address,
            rounds,
            bounty,
            bond,
            max_contributors,
            timing,
            rates,
        )
    info = client.task(task_id)
    if as_json:
        emit_json(_task_dict(info))
        return
    tx_line(f"task {task_id} created with {format_ether(info.escrow)}", receipt)
    _print_task(info)


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)


@task.command("fund")
@network_options
@click.argument("task_id", type=int)
@click.argument("amount", type=WEI)
def task_fund(network: str, account: str | None, task_id: int, amount: int) -> None:
    """Add AMOUNT to TASK_ID's escrow."""
    client = open_market(network, account)
    tx_line(f"funded task {task_id} with {format_ether(amount)}", client.fund(task_id, amount))


@task.command("list")
@network_options
@json_option
def task_list(network: str, account: str | None, as_json: bool) -> None:
    """List every task."""
    client = open_market(network, account, signer=False)
    tasks = [client.task(t) for t in range(1, client.task_count() + 1)]
    if as_json:
        emit_json([_task_dict(t) for t in tasks])
        return
    table = Table(title=f"tasks on {client.connection.network.name}")
    for col in ("id", "status", "round", "escrow", "reserved", "slots", "spec"):
        table.add_column(col)
    for t in tasks:
        table.add_row(
            str(t.task_id),
            t.status.name.lower(),
            f"{min(t.current_round, t.rounds)}/{t.rounds}",
            format_ether(t.escrow),
            format_ether(t.reserved),
            f"{t.contributor_count}/{t.max_contributors}",
            t.spec_cid,
        )
    out.print(table)


@task.command("show")
@network_options
@click.argument("task_id", type=int)
@json_option
def task_show(network: str, account: str | None, task_id: int, as_json: bool) -> None:
    """Show a task and its rounds."""
    client = open_market(network, account, signer=False)
    info = client.task(task_id)
    rounds = [client.round(task_id, r) for r in range(min(info.current_round + 1, info.rounds))]
    if as_json:
        data = _task_dict(info)
        data["round_states"] = [
            {
                **asdict(r),
                "phase": r.phase.name.lower(),
                "credits_root": "0x" + r.credits_root.hex(),
            }
            for r in rounds
        ]
        emit_json(data)
        return
    _print_task(info)
    table = Table(title="rounds")
    for col in ("round", "phase", "commits", "reveals", "credited", "claimed"):
        table.add_column(col)
    for r in rounds:
        table.add_row(
            str(r.round),
            r.phase.name.lower(),
            str(r.commits),
            str(r.reveals),
            format_ether(r.total_credited),
            format_ether(r.claimed_total),
        )
    out.print(table)


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
@network_options
@click.argument("task_id", type=int)
@click.confirmation_option(prompt="Close the task? Unspent escrow goes back to its funders.")
def task_close(network: str, account: str | None, task_id: int) -> None:
    """Close TASK_ID (sponsor cancel, all rounds done, or a stalled coordinator)."""
    tx_line(f"task {task_id} closed", open_market(network, account).close_task(task_id))


@task.command("refund")
@network_options
@click.argument("task_id", type=int)
def task_refund(network: str, account: str | None, task_id: int) -> None:
    """Book your pro-rata refund of a closed task (then `magnet withdraw`)."""
    tx_line(f"refund of task {task_id} booked", open_market(network, account).claim_refund(task_id))


@task.command("release-bond")
@network_options
@click.argument("task_id", type=int)
def task_release_bond(network: str, account: str | None, task_id: int) -> None:
    """Book your remaining bond of a closed task (then `magnet withdraw`)."""
    tx_line(f"bond of task {task_id} booked", open_market(network, account).release_bond(task_id))


# ───────────────────────────────────────────────────────────────── contributors


@main.command()
@network_options
@click.argument("task_id", type=int)
def claim(network: str, account: str | None, task_id: int) -> None:
    """Take a contributor slot in TASK_ID, locking its claim bond."""
    client = open_market(network, account)
    bond = client.task(task_id).claim_bond
    tx_line(f"joined task {task_id} (bond {format_ether(bond)})", client.claim(task_id, bond))


@main.command()
@network_options
@click.argument("task_id", type=int)
@click.option("--cid", required=True, help="CID of your checkpoint.")
@click.option("--metric", required=True, help="Your claimed validation metric, e.g. 1.234.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait for reveals.")
@json_option
def submit(
    network: str,
    account: str | None,
    task_id: int,
    cid: str,
    metric: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Commit to a checkpoint CID, wait for reveals to open, then reveal it (resumable)."""
    client = open_market(network, account)
    with console.status("committing…") as status:
        result = submit_checkpoint(
            client,
            task_id,
            cid,
            scale_metric(metric),
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
    """``--network``, ``--account``, TASK_ID and ROUND_INDEX: what every per-round action takes."""
    f = click.argument("round_index", type=int)(f)
    return network_options(click.argument("task_id", type=int)(f))


@main.group("round")
def round_() -> None:
    """Post, challenge and resolve rounds."""


@round_.command("post")
@network_options
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
    network: str,
    account: str | None,
    task_id: int,
    merged_cid: str,
    report_cid: str,
    credits_path: Path,
    tree_out: Path | None,
) -> None:
    """Post the current round of TASK_ID (coordinator only)."""
    credits = {a: int(v) for a, v in json.loads(credits_path.read_text()).items() if int(v) > 0}
    tree = CreditTree.of(list(credits.items())) if credits else None
    root = tree.root if tree else bytes(32)
    client = open_market(network, account)
    receipt = client.post_round(task_id, merged_cid, report_cid, root, sum(credits.values()))
    if tree and tree_out:
        tree_out.write_text(json.dumps(tree.dump(), indent=1))
    tx_line(f"round posted, {format_ether(sum(credits.values()))} credited", receipt)


@round_.command("challenge")
@round_arguments
@click.option("--reason", required=True, help="Why (e.g. a CID of evidence).")
@click.confirmation_option(prompt="Challenging locks the task's claim bond. Continue?")
def round_challenge(
    network: str, account: str | None, task_id: int, round_index: int, reason: str
) -> None:
    """Dispute a posted round during its challenge window."""
    receipt = open_market(network, account).challenge(task_id, round_index, reason)
    tx_line(f"round {round_index} of task {task_id} challenged", receipt)


@round_.command("resolve")
@round_arguments
@click.option("--upheld/--rejected", required=True, help="Whether the challenge is right.")
def round_resolve(
    network: str, account: str | None, task_id: int, round_index: int, upheld: bool
) -> None:
    """Settle a challenge (owner only)."""
    receipt = open_market(network, account).resolve_challenge(task_id, round_index, upheld)
    tx_line(f"challenge {'upheld' if upheld else 'rejected'}", receipt)


@main.command()
@round_arguments
@click.argument("contributor")
@click.argument("reason", type=click.Choice([r.name.lower() for r in SlashReason]))
def slash(
    network: str, account: str | None, task_id: int, round_index: int, contributor: str, reason: str
) -> None:
    """Slash CONTRIBUTOR's bond for REASON in a round (coordinator only)."""
    client = open_market(network, account)
    receipt = client.slash(task_id, round_index, contributor, SlashReason[reason.upper()])
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
    network: str,
    account: str | None,
    task_id: int,
    round_index: int,
    tree_path: Path,
    beneficiary: str | None,
) -> None:
    """Book a credited reward with its Merkle proof (then `magnet withdraw`)."""
    tree = CreditTree.load(json.loads(tree_path.read_text()))
    client = open_market(network, account)
    assert client.signer is not None
    who = beneficiary or client.signer.address
    amount = tree.amount(who)
    if amount == 0:
        raise click.ClickException(f"{who} has no credit in {tree_path}")
    receipt = client.claim_reward(task_id, round_index, who, amount, tree.proof(who))
    tx_line(f"reward of {format_ether(amount)} booked for {who}", receipt)


@main.command()
@network_options
@click.confirmation_option(prompt="Withdraw your whole balance?")
def withdraw(network: str, account: str | None) -> None:
    """Receive your whole withdrawable balance."""
    client = open_market(network, account)
    assert client.signer is not None
    amount = client.withdrawable(client.signer.address)
    tx_line(f"withdrew {format_ether(amount)}", client.withdraw())


@main.group()
def payouts() -> None:
    """Check the money."""


@payouts.command("verify")
@network_options
@store_options
@click.argument("task_id", type=int)
@click.option(
    "--no-reports", is_flag=True, help="Check events and contract state only (no content store)."
)
@json_option
def payouts_verify(
    network: str,
    account: str | None,
    ipfs_api: str | None,
    store_path: Path | None,
    task_id: int,
    no_reports: bool,
    as_json: bool,
) -> None:
    """Rebuild TASK_ID's books from events and pinned round reports; exit 1 on any mismatch.

    Events give escrow, credits, bonds and refunds, reconciled with the contract's state; each
    round's pinned report must rebuild the posted Merkle root, add up to the posted total, and
    match every reward claimed.
    """
    client = open_market(network, account, signer=False)
    reader = event_reader(client)
    store = None if no_reports else open_store(ipfs_api, store_path)
    audit = verify_payouts(client, reader, store, task_id)
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
