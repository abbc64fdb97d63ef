"""Options, parameter types and rendering shared by the chain-facing commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
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

F = TypeVar("F", bound=Callable[..., Any])
#: Tables and results go to stdout; progress and confirmations to stderr, so stdout stays parseable.
out = Console()
console = Console(stderr=True)

_UNITS = {"wei": 0, "gwei": 9, "ether": 18, "eth": 18}


class WeiType(click.ParamType):
    """An amount like ``3ether``, ``0.5 eth``, ``20gwei`` or a plain integer of wei."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        unit = next((u for u in sorted(_UNITS, key=len, reverse=True) if text.endswith(u)), "wei")
        number = text.removesuffix(unit) if text.endswith(unit) else text
        try:
            wei = Decimal(number) * (Decimal(10) ** _UNITS[unit])
        except InvalidOperation:
            self.fail(f"{value!r} is not an amount (e.g. 3ether, 20gwei, 1000)", param, ctx)
        if wei != wei.to_integral_value() or wei < 0:
            self.fail(f"{value!r} is not a whole, non-negative number of wei", param, ctx)
        return int(wei)


WEI = WeiType()


def format_ether(wei: int) -> str:
    """``1.5 ETH`` style, exact (no float rounding)."""
    text = format(Decimal(wei) / Decimal(10**18), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ETH"


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


def event_reader(client: MarketClient, network: str) -> EventReader:
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
