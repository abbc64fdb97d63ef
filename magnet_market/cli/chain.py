"""``magnet devnet``, ``magnet deploy``, ``magnet market`` and ``magnet account``: the chain's
front door."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import click

from magnet_market.app import (
    DEVNET_FLOORS,
    DEVNET_RULES,
    Devnet,
    Floors,
    Keystore,
    MarketRules,
    MarketView,
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
    print_table,
    tx_line,
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
@click.option(
    "--block-time",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Mine a block every this many seconds, so deadlines pass with no traffic, as on a real "
    "chain; 0: mine only when a transaction arrives (the clock then stands still between them).",
)
def devnet(port: int, chain_id: int, state: Path | None, accounts: int, block_time: float) -> None:
    """Run a local anvil devnet in the foreground until Ctrl-C."""
    node = Devnet(
        port=port,
        chain_id=chain_id,
        state_path=state,
        accounts=accounts,
        block_time=block_time or None,
    ).start()
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
@click.option(
    "--owner", default=None, help="Owner (holds the pause switch); default: the deployer."
)
@click.option("--min-submit", type=int, default=None, help="Floor of every submit phase (s).")
@click.option("--min-reveal", type=int, default=None, help="Floor of every reveal phase (s).")
@click.option("--min-merge", type=int, default=None, help="Floor of every merge deadline (s).")
@click.option(
    "--min-challenge", type=int, default=None, help="Floor of every challenge window (s)."
)
@click.option("--min-claim-bond", type=WEI, default=None, help="Floor of every claim bond.")
@click.option(
    "--claim-window",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds a final round's credits stay claimable.",
)
@click.option(
    "--vote-seconds",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds validators have to vote on a dispute.",
)
@click.option("--validator-stake", type=WEI, default=None, help="What a validator seat locks.")
@click.option(
    "--quorum",
    type=click.IntRange(min=1),
    default=None,
    help="The fewest votes that decide a dispute.",
)
@click.option(
    "--coordinator-stake-bps",
    type=click.IntRange(0, 10_000),
    default=None,
    help="Stake a coordinator holds to post a round, in basis points of its budget.",
)
@json_option
def deploy(
    session: Session,
    owner: str | None,
    min_submit: int | None,
    min_reveal: int | None,
    min_merge: int | None,
    min_challenge: int | None,
    min_claim_bond: int | None,
    claim_window: int | None,
    vote_seconds: int | None,
    validator_stake: int | None,
    quorum: int | None,
    coordinator_stake_bps: int | None,
    as_json: bool,
) -> None:
    """Deploy MagnetMarket and record where it lives.

    Every task on the market inherits its floors: phase lengths and the claim bond no task can
    go below. Defaults: on the devnet, seconds and no bond (local runs); elsewhere submit and
    reveal 600 s, merge 1800 s, challenge 3600 s, claim bond 0.001 ether. Each --min-* option
    overrides one.

    The market's dispute and payment rules are fixed here too. Defaults: on the devnet a 7-day
    claim window, 30 s votes, a 0.01 ether validator seat, a quorum of 1 and a 10 % coordinator
    stake; elsewhere 90 days, one day, 0.1 ether, 3 votes and 20 %.
    """
    devnet = session.network.is_devnet
    floors = replace(
        DEVNET_FLOORS if devnet else Floors(),
        **_given(
            submit=min_submit,
            reveal=min_reveal,
            merge=min_merge,
            challenge=min_challenge,
            claim_bond=min_claim_bond,
        ),
    )
    rules = replace(
        DEVNET_RULES if devnet else MarketRules(),
        **_given(
            claim_window=claim_window,
            vote_duration=vote_seconds,
            validator_stake=validator_stake,
            quorum=quorum,
            coordinator_stake_bps=coordinator_stake_bps,
        ),
    )
    deployer = Owner(session)
    _ = session.connection  # an unreachable node or a wrong chain id fails before the status
    with console.status(f"deploying MagnetMarket to {session.network.name}…"):
        record = deployer.deploy(owner, floors=floors, rules=rules)
    if as_json:
        emit_json({**record.__dict__, "floors": asdict(floors), "rules": asdict(rules)})
        return
    rows = [
        *record.__dict__.items(),
        ("floors", _describe_floors(floors)),
        ("rules", _describe_rules(rules)),
    ]
    out.print(key_value_table("MagnetMarket deployed", rows))


def _given(**options: int | None) -> dict[str, int]:
    """The options the user gave (the others keep the network's defaults)."""
    return {k: v for k, v in options.items() if v is not None}


def _describe_floors(floors: Floors) -> str:
    return (
        f"submit {floors.submit} s, reveal {floors.reveal} s, merge {floors.merge} s, "
        f"challenge {floors.challenge} s, claim bond {format_ether(floors.claim_bond)}"
    )


def _describe_rules(rules: MarketRules) -> str:
    return (
        f"claim window {rules.claim_window} s, votes {rules.vote_duration} s, "
        f"validator stake {format_ether(rules.validator_stake)}, quorum {rules.quorum}, "
        f"coordinator stake {rules.coordinator_stake_bps / 100:g} % of a round's budget"
    )


# ───────────────────────────────────────────────────────────────── the market


@main.group("market")
def market_group() -> None:
    """The deployed market: its rules, and the owner's pause switch."""


@market_group.command("show")
@with_session()
@json_option
def market_show(session: Session, as_json: bool) -> None:
    """Show the market's floors, rules, clock, validator panel and pause state."""
    summary = MarketView(session).summary()
    if as_json:
        emit_json(asdict(summary))
        return
    behind = summary.block_time - summary.market_time
    rows: list[tuple[str, object]] = [
        ("address", summary.address),
        ("owner", summary.owner),
        ("paused", "yes (clocks stopped)" if summary.paused else "no"),
        ("market time", f"{summary.market_time} ({behind} s behind block time)"),
        ("floors", _describe_floors(summary.floors)),
        ("rules", _describe_rules(summary.rules)),
        (
            "validators",
            f"{summary.validators} staking {format_ether(summary.validator_stake_total)}",
        ),
        ("tasks", summary.tasks),
        ("open disputes", summary.open_disputes),
    ]
    print_table(key_value_table(f"market on {session.network.name}", rows))


@market_group.command("pause")
@with_session()
@click.confirmation_option(
    prompt="Pause the market? Its clocks and money-moving actions stop for up to 7 days."
)
def market_pause(session: Session) -> None:
    """Stop the market's clocks and actions (owner only; at most 7 days, then a cool-down)."""
    tx_line("market paused", Owner(session).pause())


@market_group.command("unpause")
@with_session()
def market_unpause(session: Session) -> None:
    """Start the market's clocks again; every deadline moves by the time paused (owner only)."""
    tx_line("market unpaused", Owner(session).unpause())


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
