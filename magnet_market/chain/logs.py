"""``eth_getLogs`` over block ranges a provider accepts, learned as it answers.

Public RPC providers cap a log query by its span of blocks (Alchemy, QuickNode, Ankr, …) or by
the number of logs it returns (Infura's 10,000), each with its own words for the refusal. A
fetcher doubles its span while the provider answers and bisects it after a refusal
(:class:`SpanPolicy`), and asks for every event of one address at once, so a scan costs one
request per span, not one per event name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from web3.exceptions import Web3RPCError
from web3.types import FilterParams, LogReceipt

from magnet_market.chain.connection import Connection
from magnet_market.chain.errors import LogQueryRefusedError

if TYPE_CHECKING:  # eth_typing comes with web3; only its types are used here
    from eth_typing import ChecksumAddress

#: Words providers use when a log query spans too many blocks or returns too many logs.
RANGE_REFUSAL = re.compile(
    r"range|too many|more than|limit|exceed|too large|too wide|response size|max results",
    re.IGNORECASE,
)

#: Answers in a row after which a span the provider once refused is tried again.
RETRY_REFUSED_AFTER = 16


@dataclass
class SpanPolicy:
    """How many blocks one ``eth_getLogs`` asks for.

    After a refusal the span is bisected between the largest span answered and the smallest
    refused, so it settles just under a provider's cap in a few requests; once settled, every
    :data:`RETRY_REFUSED_AFTER` answers it asks for the refused span once (the cap may count logs,
    and a sparse stretch of blocks may pass), going back to the answered span if it is refused.

    Args:
        span: the span of the next request.
        max_span: the most it grows to.
        refused: the smallest span the provider refused (``None``: none yet).
        accepted: the largest span the provider answered since its last refusal.
    """

    span: int = 10_000
    max_span: int = 500_000
    refused: int | None = None
    accepted: int = 0
    _answers: int = 0
    _probing: bool = False

    def shrink(self, tried: int) -> None:
        """The provider refused ``tried`` blocks."""
        self._answers = 0
        if self._probing:  # the cap still holds: back to what it answered
            self._probing = False
            self.span = self.accepted or max(1, tried // 2)
            return
        self.refused = tried if self.refused is None else min(self.refused, tried)
        if self.accepted >= tried:  # a cap on logs, not blocks: what passed elsewhere may not here
            self.accepted = 0
        self.span = (self.accepted + tried) // 2 if self.accepted else max(1, tried // 2)

    def grow(self, answered: int) -> None:
        """The provider answered a request of ``answered`` blocks."""
        self.accepted = max(self.accepted, answered)
        if self._probing:  # the refused span passed: the cap is gone (or lifted)
            self._probing, self.refused = False, None
        if self.refused is None:
            self.span = min(self.span * 2, self.max_span)
            return
        self._answers += 1
        if self._answers >= RETRY_REFUSED_AFTER:
            self._answers, self._probing, self.span = 0, True, self.refused
            return
        gap = self.refused - self.accepted
        self.span = self.accepted + gap // 2 if gap > 1 else self.accepted


class LogFetcher:
    """Fetches the raw logs of one contract address over any block range.

    Args:
        connection: the node.
        address: the contract whose logs are read.
        policy: the span policy (shared with a cache that remembers it across runs).
    """

    def __init__(
        self, connection: Connection, address: ChecksumAddress, policy: SpanPolicy | None = None
    ) -> None:
        self.connection = connection
        self.address = address
        self.policy = policy or SpanPolicy()

    def fetch(self, start: int, end: int) -> list[LogReceipt]:
        """Every log of the address in blocks ``start..end`` (inclusive), in chain order."""
        logs: list[LogReceipt] = []
        while start <= end:
            last = min(end, start + self.policy.span - 1)
            try:
                logs.extend(self._get_logs(start, last))
            except Web3RPCError as e:
                tried = last - start + 1
                if tried == 1 or not RANGE_REFUSAL.search(str(e)):
                    raise LogQueryRefusedError(
                        f"{self.connection.network.rpc_url} refused eth_getLogs for blocks "
                        f"{start}..{last}: {e}"
                    ) from None
                self.policy.shrink(tried)
                continue
            self.policy.grow(last - start + 1)
            start = last + 1
        return logs

    def _get_logs(self, start: int, end: int) -> list[LogReceipt]:
        query: FilterParams = {"address": self.address, "fromBlock": start, "toBlock": end}
        w3 = self.connection.w3
        return list(self.connection.rpc(lambda: w3.eth.get_logs(query)))
