"""What every long-running role holds: a session (signing market, store, events), a work folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from magnet_market.app.session import Session
from magnet_market.chain.errors import RPCUnavailableError
from magnet_market.errors import ConfigError, MagnetError


class Role:
    """Base of the contributor, the coordinator and the other roles that run until done.

    Args:
        session: the user's session; the role signs as its account.
        workdir: scratch space for checkpoints (default: ``$MAGNET_HOME/work/<role>``).
    """

    #: Raised when the role cannot act (e.g. no signing account).
    error: ClassVar[type[MagnetError]] = MagnetError
    #: Seconds the node may stay unreachable before a run gives up.
    max_outage: float = 300.0

    def __init__(self, session: Session, workdir: Path | None = None) -> None:
        try:
            self.address: str = session.address
        except ConfigError as e:
            raise self.error(
                f"a {type(self).__name__.lower()} needs a signing account: {e}"
            ) from None
        self.session = session
        self.client = session.signing_market
        self.store = session.store
        self.reader = session.events
        self.workdir = workdir or session.workdir(type(self).__name__.lower())

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
