"""What every long-running role holds: a signing market client, a store, events, a work folder."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from magnet_market.chain.client import MarketClient
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
