"""What every long-running role holds: a signing market client, a store, events, a work folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from magnet_market.chain.client import MarketClient
from magnet_market.chain.errors import RPCUnavailableError
from magnet_market.chain.events import EventReader
from magnet_market.errors import MagnetError
from magnet_market.storage import ContentStore


class Role:
    """Base of :class:`~magnet_market.contributor.Contributor` and the coordinator.

    Args:
        client: the market, signing as this role's account.
        store: where specs, checkpoints and reports are fetched and published.
        reader: the market's events.
        workdir: scratch space for checkpoints.
    """

    #: Raised when the role cannot act (e.g. no signing account).
    error: ClassVar[type[MagnetError]] = MagnetError
    #: Seconds the node may stay unreachable before a run gives up.
    max_outage: float = 300.0

    def __init__(
        self, client: MarketClient, store: ContentStore, reader: EventReader, workdir: Path
    ) -> None:
        if client.signer is None:
            raise self.error(f"a {type(self).__name__.lower()} needs a signing account")
        self.client = client
        self.store = store
        self.reader = reader
        self.workdir = workdir
        self.address: str = client.signer.address

    def _loop(
        self, step: Callable[[], bool | None], poll: float, say: Callable[[str], None]
    ) -> None:
        """Run ``step`` until it returns True; ``None`` means "wait ``poll`` seconds first".

        A node that stops answering (restart, dropped connection) is waited for up to
        ``max_outage`` seconds: every step re-reads its state from the chain, so picking up
        after an outage repeats nothing that already happened.
        """
        down_since: float | None = None
        while True:
            try:
                result = step()
            except RPCUnavailableError as e:
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > self.max_outage:
                    raise
                say(f"node unreachable ({e}); retrying")
                time.sleep(poll)
                continue
            down_since = None
            if result is True:
                return
            if result is None:
                time.sleep(poll)
