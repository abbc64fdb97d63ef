"""``magnet demo``: the market on a fresh local devnet, end to end as far as it is built."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import click

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.audit import verify_task
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import Timing
from magnet_market.cli import main
from magnet_market.cli._common import console, format_ether, key_value_table, out
from magnet_market.config import Network

DEMO_SPEC_CID = "bafkreidemo"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="End with one JSON summary line on stdout.")
def demo(as_json: bool) -> None:
    """Start a devnet, deploy the market, create a funded task, let contributors join, verify."""
    started = time.monotonic()
    with Devnet() as node:
        console.print(f"[bold]1.[/] devnet up at {node.url}")
        conn = Connection(Network("devnet", node.url, node.chain_id))
        owner, sponsor, coordinator = devnet_account(0), devnet_account(1), devnet_account(2)
        record = deploy_market(conn, owner, save=False)
        console.print(
            f"[bold]2.[/] MagnetMarket deployed at {record.address} (block {record.block})"
        )
        client = MarketClient(conn, record.address, sponsor)
        task_id, _ = client.create_task(
            DEMO_SPEC_CID, coordinator.address, 2, 3 * 10**18, 10**16, 4, Timing(600, 300, 600, 300)
        )
        console.print(
            f"[bold]3.[/] task {task_id} created with {format_ether(3 * 10**18)} in escrow"
        )
        contributors = [devnet_account(i) for i in (3, 4, 5)]
        for who in contributors:
            client.with_signer(who).claim(task_id)
        console.print(f"[bold]4.[/] {len(contributors)} contributors claimed slots with bonds")
        info = client.task(task_id)
        out.print(
            key_value_table(
                f"task {task_id}, read back from the chain",
                [
                    ("status", info.status.name.lower()),
                    ("spec", info.spec_cid),
                    ("escrow", format_ether(info.escrow)),
                    ("bonds held", format_ether(info.bonds_held)),
                    ("contributors", f"{info.contributor_count}/{info.max_contributors}"),
                    ("round", f"{info.current_round} of {info.rounds}"),
                    ("phase", client.round(task_id, 0).phase.name.lower()),
                ],
            )
        )
        audit = verify_task(client, EventReader(client, record.block), task_id)
        console.print(f"[bold]5.[/] payouts verified from events: {audit.ok}")
        summary = {
            "market": record.address,
            "task": {**asdict(info), "status": info.status.name.lower()},
            "payouts_verified": audit.ok,
            "seconds": round(time.monotonic() - started, 2),
        }
    if as_json:
        click.echo(json.dumps(summary, default=str))
    if not audit.ok:
        raise SystemExit(1)
