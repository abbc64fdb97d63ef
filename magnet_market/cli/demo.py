"""``magnet demo``: the whole market on a fresh local devnet, every role its own process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from magnet_market.app.demo import DemoOptions, DemoResult, run_demo
from magnet_market.cli import main
from magnet_market.cli._common import WEI, console, format_ether, out
from magnet_market.dashboard import serve as serve_dashboard
from magnet_market.dashboard.server import DEFAULT_PORT


@main.command()
@click.option("--json", "as_json", is_flag=True, help="End with one JSON summary line on stdout.")
@click.option("--ipfs-api", envvar="MAGNET_IPFS_API", default=None, help="Use this IPFS node.")
@click.option(
    "--network",
    default="devnet",
    show_default=True,
    help="devnet: a fresh local anvil. Otherwise a network name or RPC URL; the demo then runs "
    "there, paid by --account or MAGNET_PRIVATE_KEY.",
)
@click.option("--account", default=None, help="Keystore account that pays on another network.")
@click.option(
    "--task",
    "task_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A task spec (TOML) instead of the embedded tinylm task.",
)
@click.option(
    "--dataset",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Your own data instead: a CSV/Parquet table (with --label), a CSV series (with --time) "
    "or a folder of text files, packed by CID; the summary adds holdout_metric_per_round.",
)
@click.option("--label", metavar="COL", default=None, help="With --dataset: the class column.")
@click.option(
    "--time", "time_column", metavar="COL", default=None, help="With --dataset: the time column."
)
@click.option("--bounty", type=WEI, default=None, help="Override the task's bounty.")
@click.option(
    "--gas-money",
    type=WEI,
    default="0.02ether",
    show_default=True,
    help="Given to each role account on another network, on top of its bond.",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Afterwards keep the chain and store up and serve the dashboard until Ctrl-C.",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="The dashboard's port.")
@click.option("--timeout", default=900.0, show_default=True, help="Seconds before giving up.")
def demo(
    as_json: bool,
    ipfs_api: str | None,
    network: str,
    account: str | None,
    task_file: Path | None,
    dataset: Path | None,
    label: str | None,
    time_column: str | None,
    bounty: int | None,
    gas_money: int,
    serve: bool,
    port: int,
    timeout: float,
) -> None:
    """Run a two-round market with three contributors and a coordinator on a fresh devnet."""
    if dataset is not None and task_file is not None:
        raise click.UsageError("--task and --dataset both say what to train: give one")
    if dataset is None and (label or time_column):
        raise click.UsageError("--label and --time describe a --dataset")
    options = DemoOptions(
        network,
        account,
        ipfs_api,
        task_file,
        bounty,
        gas_money,
        timeout,
        dataset=dataset,
        label=label,
        time=time_column,
    )
    with run_demo(options, say=_step, relay=_relay) as result:
        _render(result)
        if as_json:
            click.echo(json.dumps(result.summary()))
            sys.stdout.flush()
        if serve:
            console.print(f"[bold]4.[/] dashboard on http://127.0.0.1:{port}/ (Ctrl-C stops it)")
            serve_dashboard(result.session, port=port, runs_dir=result.runs_dir)
    if not result.audit.ok:
        raise SystemExit(1)


def _step(line: str) -> None:
    number, _, rest = line.partition(" ")
    shown = f"[bold]{number}[/] {rest}" if number.rstrip(".").isdigit() else line
    console.print(shown)


def _relay(name: str, line: str) -> None:
    console.print(f"[dim]{name:>11}[/] {line}", highlight=False)


def _render(result: DemoResult) -> None:
    """The rounds, the payouts and every payouts check, for humans."""
    table = Table(title=f"task {result.task_id}: rounds")
    metric = result.metric
    columns = ["round", f"parent {metric}", f"merged {metric}", "step", "credited", "submissions"]
    if result.holdout is not None:
        columns.insert(3, f"merged {metric} on the holdout")
    for col in columns:
        table.add_column(col)
    for i, r in enumerate(result.rounds):
        merged = r.report["merged_metric"]
        cells = [
            str(r.round),
            f"{r.report['parent_metric']:.4f}",
            f"{merged:.4f}" if merged is not None else "-",
            r.report.get("merge_step") or "-",
            format_ether(r.total_credited),
            ", ".join(f"{s['author'][:8]}… {s['status']}" for s in r.report["submissions"]),
        ]
        if result.holdout is not None:
            cells.insert(3, f"{result.holdout[i]:.4f}")
        table.add_row(*cells)
    out.print(table)
    payouts = Table(title="payouts")
    for col in ("account", "rewards", "slashed"):
        payouts.add_column(col)
    for who in sorted(set(result.rewards) | set(result.slashed)):
        payouts.add_row(
            who,
            format_ether(result.rewards.get(who, 0)),
            format_ether(result.slashed.get(who, 0)),
        )
    out.print(payouts)
    if result.disputes:
        disputes = Table(title="disputes")
        for col in ("round", "outcome", "challengers", "votes", "coordinator stake forfeited"):
            disputes.add_column(col)
        for d in result.disputes:
            disputes.add_row(
                str(d["round"]),
                d["outcome"].replace("_", " "),
                str(d["challengers"]),
                str(d["votes"]),
                format_ether(d["forfeited_stake_wei"]),
            )
        out.print(disputes)
    for c in result.audit.checks:
        out.print(f"  {'[green]ok' if c.ok else '[red]MISMATCH'}[/] {c.name}: {c.actual}")
    out.print("[green]payouts verified[/]" if result.audit.ok else "[red]payouts do NOT verify[/]")
