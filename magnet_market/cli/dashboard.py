"""``magnet dashboard``: serve the market's web dashboard (read-only unless --account is given)."""

from __future__ import annotations

from pathlib import Path

import click

from magnet_market.chain.accounts import resolve_signer
from magnet_market.cli import main
from magnet_market.cli._common import (
    event_reader,
    network_options,
    open_market,
    open_store,
    store_options,
)
from magnet_market.dashboard import serve
from magnet_market.dashboard.server import DEFAULT_PORT


@main.command()
@network_options
@store_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="TCP port.")
@click.option(
    "--runs",
    "runs_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A folder of autoresearch output folders, shown under Autoresearch.",
)
def dashboard(
    network: str,
    account: str | None,
    ipfs_api: str | None,
    store_path: Path | None,
    host: str,
    port: int,
    runs_dir: Path | None,
) -> None:
    """Serve a web dashboard of tasks, rounds, contributors, payouts and autoresearch runs.

    Read-only unless --account is given: then your contributor page has a withdraw button
    (confirmed in the browser, guarded by a per-server token).
    """
    client = open_market(network, None, signer=False)
    signer = resolve_signer(client.connection.network, account) if account else None
    serve(
        client,
        None,
        open_store(ipfs_api, store_path),
        host=host,
        port=port,
        runs_dir=runs_dir,
        signer=signer,
        from_block=event_reader(client).from_block,
    )
