"""Read the market's events in bounded block ranges (public RPCs cap ``eth_getLogs`` spans)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from web3.types import EventData

from magnet_market.chain.client import MarketClient

#: Event names of the contract, in the order a replay should consider them within one block.
EVENT_NAMES = (
    "TaskCreated",
    "TaskFunded",
    "HoldoutSealed",
    "CoordinatorStaked",
    "ContributorJoined",
    "SubmissionCommitted",
    "SubmissionRevealed",
    "HoldoutRevealed",
    "HoldoutForfeited",
    "ContributorSlashed",
    "RoundPosted",
    "DisputeOpened",
    "RoundChallenged",
    "VoteCast",
    "DisputeResolved",
    "DisputePaid",
    "SlashReverted",
    "RewardClaimed",
    "CreditsExpired",
    "TaskClosed",
    "HoldoutBondReturned",
    "RefundClaimed",
    "BondReleased",
    "StakeReleased",
    "ValidatorStaked",
    "ValidatorUnstaked",
    "MarketPaused",
    "MarketUnpaused",
    "Withdrawn",
)


class EventReader:
    """Fetches decoded events of one market.

    Args:
        client: the market client (read-only is enough).
        from_block: first block to scan (the deployment block).
        chunk: blocks per ``eth_getLogs`` request.
    """

    def __init__(self, client: MarketClient, from_block: int = 0, chunk: int = 5_000) -> None:
        self.client = client
        self.from_block = from_block
        self.chunk = chunk

    def get(self, name: str, to_block: int | None = None, **filters: Any) -> list[EventData]:
        """Events ``name`` matching indexed-argument ``filters`` (e.g. ``taskId=1``)."""
        return list(self._iter(name, to_block, filters))

    def all(self, to_block: int | None = None, **filters: Any) -> list[EventData]:
        """Every event of the market (optionally filtered by an argument all of them index,
        e.g. ``taskId``), in chain order."""
        events: list[EventData] = []
        for name in EVENT_NAMES:
            event = getattr(self.client.contract.events, name)
            indexed = {i["name"] for i in event.abi["inputs"] if i.get("indexed")}
            if set(filters) <= indexed:
                events.extend(self._iter(name, to_block, filters))
        return sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"]))

    def _iter(
        self, name: str, to_block: int | None, filters: dict[str, Any]
    ) -> Iterator[EventData]:
        conn = self.client.connection
        last = to_block if to_block is not None else conn.rpc(lambda: conn.w3.eth.block_number)
        event = getattr(self.client.contract.events, name)()
        start = self.from_block
        while start <= last:
            end = min(start + self.chunk - 1, last)
            yield from conn.rpc(
                partial(
                    event.get_logs,
                    from_block=start,
                    to_block=end,
                    argument_filters=filters or None,
                )
            )
            start = end + 1
