"""``magnet devnet``, ``magnet deploy`` and ``magnet account``: the chain's front door."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import click

from magnet_market.app import (
    DEVNET_FLOORS,
    Devnet,
    Floors,
    Keystore,
    Owner,
    Session,
    devnet_account,
)
from magnet_market.cli import main
from magnet_market.cli._common import (
    WEI,
    console,
    emit_json,
    format_ether,
    json_option,
    key_value_table,
    out,
    with_session,
)
from magnet_market.config import DEVNET_CHAIN_ID


@main.command()
@click.option("--port", default=8545, show_default=True, help="TCP port on 127.0.0.1.")
@click.option("--chain-id", default=DEVNET_CHAIN_ID, show_default=True, help="Chain id.")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="State file: loaded at start, written at exit, so the chain survives restarts.",
)
@click.option("--accounts", default=10, show_default=True, help="Funded dev accounts.")
def devnet(port: int, chain_id: int, state: Path | None, accounts: int) -> None:
    """Run a local anvil devnet in the foreground until Ctrl-C."""
    node = Devnet(port=port, chain_id=chain_id, state_path=state, accounts=accounts).start()
    console.print(f"devnet on [bold]{node.url}[/] (chain id {chain_id}); Ctrl-C stops it")
    for i in range(min(accounts, 10)):
        console.print(f"  devnet:{i}  {devnet_account(i).address}")
    try:
        while node.running:
            time.sleep(0.5)
        raise click.ClickException(f"anvil stopped unexpectedly: {node.log_tail()}")
    except KeyboardInterrupt:
        console.print("stopping devnet")
    finally:
        node.stop()


@main.command()
@with_session()
@click.option("--owner", default=None, help="Owner (challenge arbiter); default: the deployer.")
@click.option("--min-submit", type=int, default=None, help="Floor of every submit phase (s).")
@click.option("--min-reveal", type=int, default=None, help="Floor of every reveal phase (s).")
@click.option("--min-merge", type=int, default=None, help="Floor of every merge deadline (s).")
@click.option(
    "--min-challenge", type=int, default=None, help="Floor of every challenge window (s)."
)
@click.option("--min-claim-bond", type=WEI, default=None, help="Floor of every claim bond.")
@json_option
def deploy(
    session: Session,
    owner: str | None,
    min_submit: int | None,
    min_reveal: int | None,
    min_merge: int | None,
    min_challenge: int | None,
    min_claim_bond: int | None,
    as_json: bool,
) -> None:
    """Deploy MagnetMarket and record where it lives.

    Every task on the market inherits its floors: phase lengths and the claim bond no task can
    go below. Defaults: on the devnet, seconds and no bond (local runs); elsewhere submit and
    reveal 600 s, merge 1800 s, challenge 3600 s, claim bond 0.001 ether. Each --min-* option
    overrides one.
    """
    base = DEVNET_FLOORS if session.network.is_devnet else Floors()
    given = {
        "submit": min_submit,
        "reveal": min_reveal,
        "merge": min_merge,
        "challenge": min_challenge,
        "claim_bond": min_claim_bond,
    }
    floors = replace(base, **{k: v for k, v in given.items() if v is not None})
    deployer = Owner(session)
    _ = session.connection  # an unreachable node or a wrong chain id fails before the status
    with console.status(f"deploying MagnetMarket to {session.network.name}…"):
        record = deployer.deploy(owner, floors=floors)
    if as_json:
        emit_json({**record.__dict__, "floors": asdict(floors)})
        return
    rows = [*record.__dict__.items(), ("floors", _describe_floors(floors))]
    out.print(key_value_table("MagnetMarket deployed", rows))


def _describe_floors(floors: Floors) -> str:
    return (
        f"submit {floors.submit} s, reveal {floors.reveal} s, merge {floors.merge} s, "
        f"challenge {floors.challenge} s, claim bond {format_ether(floors.claim_bond)}"
    )


@main.group()
def account() -> None:
    """Manage encrypted keystore accounts ($MAGNET_HOME/keystore)."""


@account.command("new")
@click.argument("name")
@click.password_option(envvar="MAGNET_KEYSTORE_PASSWORD", help="Keystore password.")
def account_new(name: str, password: str) -> None:
    """Create a random key, stored encrypted as NAME; prints its address only."""
    click.echo(Keystore().new(name, password))


@account.command("import")
@click.argument("name")
@click.option(
    "--private-key",
    prompt=True,
    hide_input=True,
    envvar="MAGNET_IMPORT_KEY",
    help="The key to import (prompted, never echoed).",
)
@click.password_option(envvar="MAGNET_KEYSTORE_PASSWORD", help="Keystore password.")
def account_import(name: str, private_key: str, password: str) -> None:
    """Encrypt an existing private key as NAME; prints its address only."""
    click.echo(Keystore().import_key(name, private_key, password))


@account.command("list")
@json_option
def account_list(as_json: bool) -> None:
    """List stored accounts (names and addresses, never keys)."""
    accounts = Keystore().list()
    if as_json:
        emit_json([{"name": n, "address": a} for n, a in accounts])
        return
    for name, address in accounts:
        out.print(f"{name}\t{address}")
