"""Options, parameter types and rendering shared by the commands.

Commands that reach the chain or the store get a :class:`~magnet_market.app.session.Session`
built from ``--network``, ``--account`` (and ``--ipfs-api``/``--store``) by
:func:`with_session`; it is also the click context's object (``ctx.obj``), so a command parses,
calls the application layer and renders, and never opens a connection or a store itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich.console import Console
from rich.table import Table

from magnet_market.app import SlashReason
from magnet_market.app.errors import BadRequestError
from magnet_market.app.market_view import parse_address
from magnet_market.app.session import Session
from magnet_market.tasks.spec import TASK_KINDS
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

#: Slash reasons as the command line spells them.
SLASH_REASONS = tuple(r.name.lower() for r in SlashReason)


class SlashType(click.ParamType):
    """``ADDRESS:REASON``: a contributor and why it is slashed (timeout, dishonest_claim or
    bad_verification)."""

    name = "address:reason"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, SlashReason]:
        if isinstance(value, tuple):
            return value
        address, sep, reason = str(value).partition(":")
        if not sep:
            self.fail(f"{value!r} is not ADDRESS:REASON (e.g. 0xabc…:timeout)", param, ctx)
        try:
            who = parse_address(address.strip())
        except BadRequestError as e:
            self.fail(f"in {value!r}: {e}", param, ctx)
        key = reason.strip().lower().replace("-", "_")
        if key not in SLASH_REASONS:
            self.fail(
                f"in {value!r}: {reason!r} is not a slash reason; "
                f"use one of {', '.join(SLASH_REASONS)}",
                param,
                ctx,
            )
        return who, SlashReason[key.upper()]


SLASH = SlashType()


class Bytes32Type(click.ParamType):
    """32 bytes as 0x and 64 hex digits (a Merkle root, a digest)."""

    name = "hex32"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> bytes:
        if isinstance(value, bytes):
            return value
        text = str(value).strip().lower().removeprefix("0x")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            self.fail(f"{value!r} is not 32 bytes of hex (0x and 64 hex digits)", param, ctx)
        return raw


BYTES32 = Bytes32Type()


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


def with_session(store: bool = False) -> Callable[[F], F]:
    """Give the command a :class:`Session` (first argument, and ``ctx.obj``) from the network
    and account options, plus the store options when ``store``."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def run(
            *args: Any,
            network: str,
            account: str | None,
            ipfs_api: str | None = None,
            store_path: Path | None = None,
            **kwargs: Any,
        ) -> Any:
            session = Session.open(network, account, ipfs_api=ipfs_api, store_path=store_path)
            click.get_current_context().obj = session
            return command(session, *args, **kwargs)

        wrapped = network_options(cast(F, run))
        return store_options(wrapped) if store else wrapped

    return decorate


def task_filter_options(f: F) -> F:
    """``--kind`` and ``--min-reward-per-round``: which tasks a listing or a search takes."""
    f = click.option(
        "--min-reward-per-round",
        type=WEI,
        default=None,
        help="Only tasks whose current round may credit at least this (e.g. 0.5ether).",
    )(f)
    return click.option(
        "--kind", type=click.Choice(TASK_KINDS), default=None, help="Only tasks of this kind."
    )(f)


def json_option(f: F) -> F:
    """``--json``: machine-readable output instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


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


def print_table(table: Table) -> None:
    """Print ``table`` keeping every character: in a terminal long cells (CIDs) fold; piped to
    another program, the table is as wide as its content, so each CID stays on one line."""
    if out.is_terminal:
        out.print(table)
        return
    natural = out.measure(table, options=out.options.update_width(100_000)).maximum
    Console(width=max(out.width, natural)).print(table)


def tx_line(action: str, receipt: Any) -> None:
    """One line saying what was mined, for humans."""
    console.print(
        f"[green]✓[/] {action} — tx 0x{bytes(receipt['transactionHash']).hex()} "
        f"(block {receipt['blockNumber']}, gas {receipt['gasUsed']})"
    )
