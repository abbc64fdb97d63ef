"""Options, parameter types and rendering shared by the chain-facing commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from magnet_market.chain.accounts import resolve_signer
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import find_deployment
from magnet_market.chain.events import EventReader
from magnet_market.config import Network, resolve_network
from magnet_market.storage import ContentStore, KuboStore, LocalStore
from magnet_market.units import format_ether as format_ether
from magnet_market.units import parse_wei

F = TypeVar("F", bound=Callable[..., Any])
#: Tables and results go to stdout; progress and confirmations to stderr, so stdout stays parseable.
out = Console()
console = Console(stderr=True)


class WeiType(click.ParamType):
    """An amount like ``3ether``, ``0.5 eth``, ``20gwei`` or a plain integer of wei."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_wei(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


WEI = WeiType()


def network_options(f: F) -> F:
    """``--network`` and ``--account`` (with env vars), for any command that talks to the chain."""
    f = click.option(
        "--account",
        envvar="MAGNET_ACCOUNT",
        default=None,
        help="Keystore account name (or devnet:N on the devnet). Default: MAGNET_PRIVATE_KEY, "
        "then devnet account 0 on the devnet.",
    )(f)
    return click.option(
        "--network",
        envvar="MAGNET_NETWORK",
        default="devnet",
        show_default=True,
        help="devnet, hooti-testnet, hooti, or an http(s):// RPC URL.",
    )(f)


def store_options(f: F) -> F:
    """``--ipfs-api`` (an IPFS node) or ``--store`` (the embedded store's folder)."""
    f = click.option(
        "--store",
        "store_path",
        envvar="MAGNET_STORE",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Embedded content store folder (default: $MAGNET_HOME/ipfs).",
    )(f)
    return click.option(
        "--ipfs-api",
        envvar="MAGNET_IPFS_API",
        default=None,
        help="IPFS node RPC URL (Kubo), e.g. http://127.0.0.1:5001; default: embedded store.",
    )(f)


def open_store(ipfs_api: str | None, store_path: Path | None) -> ContentStore:
    """The node at ``ipfs_api`` if given, else the embedded LocalStore."""
    return KuboStore(ipfs_api) if ipfs_api else LocalStore(store_path)


def json_option(f: F) -> F:
    """``--json``: machine-readable output instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def connect(network: str) -> tuple[Network, Connection]:
    """Resolve and connect, checking the chain id."""
    net = resolve_network(network)
    conn = Connection(net)
    _ = conn.chain_id
    return net, conn


def open_market(network: str, account: str | None, signer: bool = True) -> MarketClient:
    """The deployed market of ``network``, signing as ``account`` when ``signer``."""
    net, conn = connect(network)
    record = find_deployment(conn)
    client = MarketClient(conn, record.address)
    if signer:
        client = client.with_signer(resolve_signer(net, account))
    return client


def event_reader(client: MarketClient) -> EventReader:
    """Events of the market from its deployment block."""
    record = find_deployment(client.connection)
    return EventReader(client, from_block=record.block)


def emit_json(data: Any) -> None:
    """One JSON document on stdout (ints stay exact)."""
    click.echo(json.dumps(data, indent=2, default=str))


def key_value_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    """A two-column table."""
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def tx_line(action: str, receipt: Any) -> None:
    """One line saying what was mined, for humans."""
    console.print(
        f"[green]✓[/] {action} — tx 0x{bytes(receipt['transactionHash']).hex()} "
        f"(block {receipt['blockNumber']}, gas {receipt['gasUsed']})"
    )
