"""``magnet demo``: the whole market on a fresh local devnet, every role its own process.

A sponsor publishes a ``tinylm`` task; three contributors (one honest, one that lies about its
metric, one that uploads a corrupt checkpoint) and a coordinator run as separate ``magnet``
processes for two rounds; then payouts are verified from events and pinned reports.
``--network`` runs the same flow on another chain: one funded account deploys, sponsors, and
gives fresh role accounts their bond and gas money, swept back at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.table import Table

from magnet_market.chain.accounts import devnet_account, resolve_signer
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.events import EventReader
from magnet_market.cli import main
from magnet_market.cli._common import WEI, connect, console, format_ether, out
from magnet_market.config import Network
from magnet_market.dashboard import serve as serve_dashboard
from magnet_market.dashboard.server import DEFAULT_PORT
from magnet_market.reports import load_round, verify_payouts
from magnet_market.sponsor import publish_task
from magnet_market.storage import ContentStore, KuboStore, LocalStore
from magnet_market.tasks.spec import TaskSpec, load_spec, parse_spec

#: The embedded demo task: a small byte-level LM on the standard library's source, with a short
#: autoresearch (two trials of the round's 60 steps, from its parent) before each contributor's
#: steps.
DEMO_SPEC: dict[str, Any] = {
    "name": "tinylm-demo",
    "kind": "tinylm",
    "rounds": 2,
    "inner_steps": 60,
    "batch_size": 16,
    "model": {"seq_len": 64, "d_model": 64, "n_layers": 2, "n_heads": 4},
    "search": {"trials": 2},
    "verification": {"claim_tolerance": 0.05, "regression_tolerance": 0.05},
    "market": {
        "bounty": "3ether",
        "claim_bond": "0.1ether",
        "max_contributors": 3,
        "timing": {"submit": 600, "reveal": 300, "merge": 600, "challenge": 5},
    },
}
#: The contributors: one honest, one that lies about its metric, one that uploads garbage.
CONTRIBUTORS = ("honest", "liar", "corrupt")


@dataclass(frozen=True)
class Cast:
    """Who plays what: the owner deploys, the sponsor pays, the rest run as processes."""

    network: Network
    env: dict[str, str]  # what role processes need to reach the chain
    owner: LocalAccount
    sponsor: LocalAccount
    coordinator: LocalAccount
    contributors: tuple[LocalAccount, ...]
    funded: bool  # the role accounts were funded by the sponsor (and are swept back)

    @property
    def role_accounts(self) -> tuple[LocalAccount, ...]:
        """The accounts that run as role processes."""
        return (self.coordinator, *self.contributors)


@contextmanager
def _local_cast() -> Iterator[Cast]:
    """A fresh anvil with one block per second: deadlines pass as on a real chain."""
    with Devnet(block_time=1) as node:
        network = Network("devnet", node.url, node.chain_id)
        yield Cast(
            network,
            {"MAGNET_DEVNET_URL": node.url},
            devnet_account(0),
            devnet_account(1),
            devnet_account(2),
            tuple(devnet_account(i) for i in (3, 4, 5)),
            funded=False,
        )


@contextmanager
def _remote_cast(network: str, account: str | None) -> Iterator[Cast]:
    """Another chain: the paying account deploys and sponsors; role accounts are created fresh."""
    net, _ = connect(network)
    payer = resolve_signer(net, account)
    roles = [Account.create() for _ in range(1 + len(CONTRIBUTORS))]
    yield Cast(net, {}, payer, payer, roles[0], tuple(roles[1:]), funded=True)


def _fund(sponsor: MarketClient, cast: Cast, spec: TaskSpec, gas_money: int) -> None:
    """Give each role account its claim bond and gas money."""
    for who in cast.role_accounts:
        sponsor.transfer(who.address, spec.market.claim_bond + gas_money)
    each = format_ether(spec.market.claim_bond + gas_money)
    console.print(f"   funded {len(cast.role_accounts)} role accounts with {each} each")


def _sweep(client: MarketClient, cast: Cast) -> None:
    """Send what the role accounts hold back to the sponsor."""
    for who in cast.role_accounts:
        client.with_signer(who).sweep(cast.sponsor.address)


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
        with proc.stdout:
            for line in proc.stdout:
                console.print(f"[dim]{name:>11}[/] {line.rstrip()}", highlight=False)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    return proc, thread


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
    bounty: int | None,
    gas_money: int,
    serve: bool,
    port: int,
    timeout: float,
) -> None:
    """Run a two-round market with three contributors and a coordinator on a fresh devnet."""
    started = time.monotonic()
    spec = _demo_spec(task_file, bounty)
    home = Path(tempfile.mkdtemp(prefix="magnet-demo-"))
    local = network == "devnet"
    with (
        _local_cast() if local else _remote_cast(network, account) as cast,
        _demo_store(ipfs_api, home / "ipfs") as (store, store_args),
    ):
        conn = Connection(cast.network)
        record = deploy_market(conn, cast.owner, save=False)
        console.print(f"[bold]1.[/] {cast.network.name}; MagnetMarket at {record.address}")
        sponsor = MarketClient(conn, record.address, cast.sponsor)
        if cast.funded:
            _fund(sponsor, cast, spec, gas_money)
        try:
            summary = _play(cast, spec, sponsor, record.block, store, store_args, home, timeout)
        finally:
            if cast.funded:
                _sweep(sponsor, cast)
        summary["seconds"] = round(time.monotonic() - started, 1)
        if as_json:
            click.echo(json.dumps(summary))
            sys.stdout.flush()
        if serve:
            console.print(f"[bold]4.[/] dashboard on http://127.0.0.1:{port}/ (Ctrl-C stops it)")
            runs = home / "work" / "contributor" / "autoresearch"
            serve_dashboard(sponsor, None, store, port=port, runs_dir=runs, from_block=record.block)
    if not summary["payouts_verified"]:
        raise SystemExit(1)


def _demo_spec(task_file: Path | None, bounty: int | None) -> TaskSpec:
    spec = load_spec(task_file) if task_file else parse_spec(DEMO_SPEC)
    if bounty is None:
        return spec
    data = spec.model_dump(mode="json")
    return parse_spec({**data, "market": {**data["market"], "bounty": bounty}})


def _misbehaviour(role: str, spec: TaskSpec) -> list[str]:
    """The liar claims a metric better than measured (by 1.0 loss or 0.5 accuracy); the corrupt
    contributor publishes truncated checkpoints."""
    if role == "liar":
        return ["--claim-bias", str(-1.0 if spec.lower_is_better else 0.5)]
    return ["--corrupt"] if role == "corrupt" else []


@contextmanager
def _demo_store(ipfs_api: str | None, folder: Path) -> Iterator[tuple[ContentStore, list[str]]]:
    """The store the demo uses, and the flags that give the role processes the same one."""
    if ipfs_api:
        with KuboStore(ipfs_api) as node:
            yield node, ["--ipfs-api", ipfs_api]
    else:
        yield LocalStore(folder), ["--store", str(folder)]


def _play(
    cast: Cast,
    spec: TaskSpec,
    sponsor: MarketClient,
    from_block: int,
    store: ContentStore,
    store_args: list[str],
    home: Path,
    timeout: float,
) -> dict[str, Any]:
    """Publish the task, run the role processes to the end, then verify and summarize."""
    task = publish_task(spec, store, sponsor, cast.coordinator.address)
    console.print(
        f"[bold]2.[/] task {task.task_id} published: spec {task.spec_cid}, "
        f"{format_ether(task.bounty)} in escrow"
    )
    for who in cast.contributors:  # join before round 0 judges who was expected
        sponsor.with_signer(who).claim(task.task_id)
    # Four processes share the machine: one torch thread each avoids oversubscription.
    env = {**os.environ, **cast.env, "MAGNET_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env["MAGNET_MARKET_ADDRESS"] = sponsor.address
    common = [str(task.task_id), *store_args, "--poll", "0.5", "--network", cast.network.name]
    roles = [("coordinator", cast.coordinator, ["coordinator", "run", *common])]
    for who, name in zip(cast.contributors, CONTRIBUTORS, strict=True):
        args = ["contributor", "run", *common, *_misbehaviour(name, spec)]
        roles.append((name, who, args))
    procs = [
        _spawn(name, args, {**env, "MAGNET_PRIVATE_KEY": who.key.hex()})
        for name, who, args in roles
    ]
    console.print("[bold]3.[/] coordinator and 3 contributors running as separate processes")
    deadline = time.monotonic() + timeout
    for proc, relay in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p, _ in procs:
                p.kill()
            raise click.ClickException(f"the demo did not finish within {timeout:.0f}s") from None
        relay.join(timeout=5)
    failed = [name for (name, _, _), (p, _) in zip(roles, procs, strict=True) if p.returncode]
    if failed:
        raise click.ClickException(f"role processes failed: {failed}")
    summary = _summarize(sponsor, store, EventReader(sponsor, from_block), task.task_id)
    summary["metric"] = spec.metric
    summary["accounts"] = {name: who.address for name, who, _ in roles}
    return summary


def _summarize(
    client: MarketClient, store: Any, reader: EventReader, task_id: int
) -> dict[str, Any]:
    info = client.task(task_id)
    rounds = [load_round(store, reader, task_id, r) for r in range(info.current_round)]
    audit = verify_payouts(client, reader, store, task_id)
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
