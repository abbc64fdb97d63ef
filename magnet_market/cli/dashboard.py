"""``magnet dashboard``: serve the market's web dashboard (read-only unless --account is given)."""

from __future__ import annotations

from pathlib import Path

import click

from magnet_market.app import Session
from magnet_market.cli import main
from magnet_market.cli._common import with_session
from magnet_market.dashboard import serve
from magnet_market.dashboard.server import DEFAULT_PORT


@main.command()
@with_session(store=True)
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
    session: Session,
    host: str,
    port: int,
    runs_dir: Path | None,
) -> None:
    """Serve a web dashboard of tasks, rounds, contributors, payouts and autoresearch runs.

    Read-only unless --account is given: then your contributor page has a withdraw button
    (confirmed in the browser, guarded by a per-server token).
    """
    signer = session.signer if session.settings.account else None
    serve(session, host=host, port=port, runs_dir=runs_dir, signer=signer)
