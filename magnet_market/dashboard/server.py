"""Run the dashboard: ``serve`` blocks in uvicorn on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import uvicorn
from eth_account.signers.local import LocalAccount

from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.dashboard.app import LOOPBACK_HOSTS, create_app
from magnet_market.storage import ContentStore

DEFAULT_PORT = 8547


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) resolves only to loopback addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def serve(
    connection_or_client: Connection | MarketClient,
    market_address: str | None,
    store: ContentStore,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    runs_dir: Path | None = None,
    signer: LocalAccount | None = None,
    from_block: int = 0,
) -> None:
    """Serve the dashboard of the market at ``market_address`` until interrupted.

    Args:
        connection_or_client: a checked connection, or a market client (then
            ``market_address`` may be ``None``).
        market_address: the market contract.
        store: where the pinned round reports live.
        host: interface to bind; anything but loopback prints a warning (no authentication).
        port: TCP port.
        runs_dir: a folder of autoresearch output folders for the ledger pages.
        signer: enables the ``withdraw`` action for this account; ``None`` is read-only.
        from_block: the market's deployment block.
    """
    if isinstance(connection_or_client, MarketClient):
        client = connection_or_client
        if market_address is not None:
            client = MarketClient(client.connection, market_address)
    else:
        if market_address is None:
            raise ValueError("serve needs the market's address with a bare connection")
        client = MarketClient(connection_or_client, market_address)
    allowed: tuple[str, ...] | None = (*LOOPBACK_HOSTS, host)
    if not is_loopback(host):
        allowed = None
        print(
            f"warning: serving on {host}, reachable from other machines; the dashboard has no "
            "login" + (" and can send withdrawals" if signer else ""),
            file=sys.stderr,
        )
    app = create_app(
        client,
        store,
        from_block=from_block,
        runs_dir=runs_dir,
        signer=signer,
        allowed_hosts=allowed,
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"MAGNET dashboard on http://{shown}:{port}/ (Ctrl-C to stop)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
