"""Run the dashboard: ``serve`` blocks in uvicorn on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import uvicorn
from eth_account.signers.local import LocalAccount

from magnet_market.app.session import Session
from magnet_market.dashboard.app import LOOPBACK_HOSTS, create_app

DEFAULT_PORT = 8547


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) resolves only to loopback addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def serve(
    session: Session,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    runs_dir: Path | None = None,
    signer: LocalAccount | None = None,
) -> None:
    """Serve the dashboard of ``session``'s market and store until interrupted.

    Args:
        session: whose market and content store to show.
        host: interface to bind; anything but loopback prints a warning (no authentication).
        port: TCP port.
        runs_dir: a folder of autoresearch output folders for the ledger pages.
        signer: enables the ``withdraw`` action for this account; ``None`` is read-only.
    """
    allowed: tuple[str, ...] | None = (*LOOPBACK_HOSTS, host)
    if not is_loopback(host):
        allowed = None
        print(
            f"warning: serving on {host}, reachable from other machines; the dashboard has no "
            "login" + (" and can send withdrawals" if signer else ""),
            file=sys.stderr,
        )
    app = create_app(session, runs_dir=runs_dir, signer=signer, allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    print(f"MAGNET dashboard on http://{shown}:{port}/ (Ctrl-C to stop)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
