"""The market's pulse: which block last carried one of its events, for live page updates.

Pages listen on a Server-Sent-Events stream; it emits only when new market events arrive (not
on every block), and each page then re-fetches itself and swaps its live parts. One pulse is
shared by every listener and re-reads the chain at most once per ``interval``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from magnet_market.app.market_view import MarketView


@dataclass(frozen=True)
class Pulse:
    """The chain head and the market's event count up to it."""

    block: int
    events: int
    last_event_block: int | None


class ChainPulse:
    """Scans only the blocks added since the last look.

    Args:
        data: the dashboard's market reads (their lock guards the shared connection).
        interval: seconds a reading stays fresh.
    """

    def __init__(self, data: MarketView, interval: float = 1.0) -> None:
        self.data = data
        self.interval = interval
        self._lock = threading.Lock()
        self._pulse: Pulse | None = None
        self._read_at = 0.0

    def current(self) -> Pulse:
        """The pulse, re-read from the chain when older than ``interval``."""
        with self._lock:
            if self._pulse is None or time.monotonic() - self._read_at >= self.interval:
                self._pulse = self.data.locked(self._advance)
                self._read_at = time.monotonic()
            return self._pulse

    def _advance(self) -> Pulse:
        session = self.data.session
        head = session.head()
        old = self._pulse or Pulse(session.from_block - 1, 0, None)
        if head <= old.block:
            return old
        new = session.events.all(to_block=head, from_block=old.block + 1)
        last = new[-1]["blockNumber"] if new else old.last_event_block
        return Pulse(head, old.events + len(new), last)
