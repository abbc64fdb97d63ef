"""``magnet demo``: the whole market on a fresh local devnet, every role its own process.

A sponsor publishes a ``tinylm`` task; three contributors (one honest, one that lies about its
metric, one that uploads a corrupt checkpoint) and a coordinator run as separate ``magnet``
processes for two rounds; then payouts are verified from events and pinned reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.audit import verify_task
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.events import EventReader
from magnet_market.cli import main
from magnet_market.cli._common import console, format_ether, open_store, out
from magnet_market.config import Network
from magnet_market.reports import load_round, verify_reports
from magnet_market.sponsor import publish_task
from magnet_market.tasks.spec import parse_spec

#: The embedded demo task: a small byte-level LM on the standard library's source.
DEMO_SPEC: dict[str, Any] = {
    "name": "tinylm-demo",
    "kind": "tinylm",
    "rounds": 2,
    "inner_steps": 60,
    "batch_size": 16,
    "model": {"seq_len": 64, "d_model": 64, "n_layers": 2, "n_heads": 4},
    "verification": {"claim_tolerance": 0.05, "regression_tolerance": 0.05},
    "market": {
        "bounty": "3ether",
        "claim_bond": "0.1ether",
        "max_contributors": 3,
        "timing": {"submit": 600, "reveal": 300, "merge": 600, "challenge": 5},
    },
}
#: Contributors: devnet account, role, extra `magnet contributor run` flags.
CONTRIBUTORS = (
    (3, "honest", []),
    (4, "liar", ["--claim-bias", "-1.0"]),  # claims a validation loss 1.0 lower than measured
    (5, "corrupt", ["--corrupt"]),  # publishes truncated checkpoints
)


def _spawn(
    name: str, args: list[str], env: dict[str, str]
) -> tuple[subprocess.Popen, threading.Thread]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnet_market.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def relay() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            console.print(f"[dim]{name:>11}[/] {line.rstrip()}", highlight=False)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    return proc, thread


@main.command()
@click.option("--json", "as_json", is_flag=True, help="End with one JSON summary line on stdout.")
@click.option("--ipfs-api", envvar="MAGNET_IPFS_API", default=None, help="Use this IPFS node.")
@click.option("--timeout", default=900.0, show_default=True, help="Seconds before giving up.")
def demo(as_json: bool, ipfs_api: str | None, timeout: float) -> None:
    """Run a two-round market with three contributors and a coordinator on a fresh devnet."""
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="magnet-demo-"))
    store_dir = home / "ipfs"
    # One block per second: deadlines and challenge windows pass as on a real chain.
    with Devnet(block_time=1) as node:
        # Four processes share the machine: one torch thread each avoids oversubscription.
        env = {
            **os.environ,
            "MAGNET_HOME": str(home),
            "MAGNET_DEVNET_URL": node.url,
            "OMP_NUM_THREADS": "1",
        }
        env.pop("MAGNET_PRIVATE_KEY", None)
        conn = Connection(Network("devnet", node.url, node.chain_id))
        record = deploy_market(conn, devnet_account(0), save=False)
        env["MAGNET_MARKET_ADDRESS"] = record.address
        console.print(f"[bold]1.[/] devnet {node.url}; MagnetMarket at {record.address}")
        store = open_store(ipfs_api, store_dir)
        sponsor = MarketClient(conn, record.address, devnet_account(1))
        coordinator = devnet_account(2)
        task = publish_task(parse_spec(DEMO_SPEC), store, sponsor, coordinator.address)
        console.print(
            f"[bold]2.[/] task {task.task_id} published: spec {task.spec_cid}, "
            f"{format_ether(task.bounty)} in escrow"
        )
        for index, _, _ in CONTRIBUTORS:  # join before round 0 judges who was expected
            sponsor.with_signer(devnet_account(index)).claim(task.task_id)
        store_args = ["--ipfs-api", ipfs_api] if ipfs_api else ["--store", str(store_dir)]
        common = [str(task.task_id), *store_args, "--poll", "0.5"]
        procs = [
            _spawn("coordinator", ["coordinator", "run", *common, "--account", "devnet:2"], env)
        ]
        for index, role, extra in CONTRIBUTORS:
            args = ["contributor", "run", *common, "--account", f"devnet:{index}", *extra]
            procs.append(_spawn(role, args, env))
        console.print("[bold]3.[/] coordinator and 3 contributors running as separate processes")
        deadline = time.monotonic() + timeout
        for proc, relay in procs:
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for p, _ in procs:
                    p.kill()
                raise click.ClickException(
                    f"the demo did not finish within {timeout:.0f}s"
                ) from None
            relay.join(timeout=5)
        failed = [p.args[4:6] for p, _ in procs if p.returncode != 0]
        if failed:
            raise click.ClickException(f"role processes failed: {failed}")
        summary = _summarize(sponsor, store, EventReader(sponsor, record.block), task.task_id)
        summary["seconds"] = round(time.monotonic() - started, 1)
    if as_json:
        click.echo(json.dumps(summary))
    if not summary["payouts_verified"]:
        raise SystemExit(1)


def _summarize(
    client: MarketClient, store: Any, reader: EventReader, task_id: int
) -> dict[str, Any]:
    info = client.task(task_id)
    rounds = [load_round(store, reader, task_id, r) for r in range(info.current_round)]
    audit = verify_task(client, reader, task_id)
    audit.checks.extend(verify_reports(store, reader, task_id))
    table = Table(title=f"task {task_id}: rounds")
    for col in ("round", "parent val_loss", "merged val_loss", "credited", "submissions"):
        table.add_column(col)
    rejected: list[str] = []
    for r in rounds:
        subs = r.report["submissions"]
        rejected += [s["cid"] for s in subs if s["status"] != "accepted"]
        table.add_row(
            str(r.round),
            f"{r.report['parent_metric']:.4f}",
            f"{r.report['merged_metric']:.4f}" if r.report["merged_metric"] is not None else "-",
            format_ether(r.total_credited),
            ", ".join(f"{s['author'][:8]}… {s['status']}" for s in subs),
        )
    out.print(table)
    payouts = Table(title="payouts")
    for col in ("account", "rewards", "slashed"):
        payouts.add_column(col)
    rewards: dict[str, int] = {}
    slashed: dict[str, int] = {}
    for e in reader.get("RewardClaimed", taskId=task_id):
        rewards[e["args"]["account"]] = rewards.get(e["args"]["account"], 0) + e["args"]["amount"]
    for e in reader.get("ContributorSlashed", taskId=task_id):
        who = e["args"]["contributor"]
        slashed[who] = slashed.get(who, 0) + e["args"]["amount"]
    for who in sorted(set(rewards) | set(slashed)):
        payouts.add_row(who, format_ether(rewards.get(who, 0)), format_ether(slashed.get(who, 0)))
    out.print(payouts)
    for c in audit.checks:
        out.print(f"  {'[green]ok' if c.ok else '[red]MISMATCH'}[/] {c.name}: {c.actual}")
    out.print("[green]payouts verified[/]" if audit.ok else "[red]payouts do NOT verify[/]")
    return {
        "rounds": len(rounds),
        "val_loss_per_round": [r.report["merged_metric"] for r in rounds],
        "payouts_verified": audit.ok,
        "slashed": sorted(slashed),
        "rejected": rejected,
        "total_paid_wei": sum(rewards.values()),
    }
