"""The market's events, read once: fetched by block span, kept on disk, rolled back on reorgs.

A reader asks for every log of the market at once (:mod:`~magnet_market.chain.logs`: spans a
provider accepts), decodes them by their first topic, and answers every query from what it holds
(:mod:`~magnet_market.chain.event_cache`), reading only blocks it has not seen. Before trusting what
it holds it checks the hash of the last block it scanned, and after a reorganisation it goes back
to the newest block still on the chain. With ``confirmations``, the newest blocks are neither kept
nor shown by default: a role acts only on events that are unlikely to be reorganised away.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import is_hex_address
from hexbytes import HexBytes
from web3.contract.contract import ContractEvent
from web3.exceptions import BlockNotFound
from web3.types import EventData, LogReceipt

from magnet_market.chain.client import MarketClient
from magnet_market.chain.event_cache import Coverage, EventCache
from magnet_market.chain.logs import LogFetcher, SpanPolicy

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


#: Blocks whose hash a rollback checks before it gives up and scans from the start again.
ROLLBACK_CHECKS = 64


@dataclass(frozen=True, eq=False)  # one per event of the ABI: compared (and hashed) by identity
class _Kind:
    """One event of the contract: its decoder, its arguments, and the topics of the indexed ones."""

    event: ContractEvent
    args: frozenset[str]
    indexed: dict[str, tuple[int, str]]  # argument -> (topic position, ABI type)

    @classmethod
    def of(cls, event: ContractEvent) -> _Kind:
        inputs = event.abi["inputs"]
        indexed = [i for i in inputs if i.get("indexed")]
        where = {i["name"]: (n + 1, i["type"]) for n, i in enumerate(indexed)}
        return cls(event, frozenset(i["name"] for i in inputs), where)

    def topic(self, name: str, value: Any) -> HexBytes:
        """The topic an indexed argument ``name`` equal to ``value`` has."""
        return HexBytes(abi_encode([self.indexed[name][1]], [value]))


class _Held:
    """A log of the market, decoded the first time a query needs its arguments."""

    __slots__ = ("decoded", "kind", "log")

    def __init__(self, log: LogReceipt, kind: _Kind) -> None:
        self.log = log
        self.kind = kind
        self.decoded: EventData | None = None

    @property
    def block(self) -> int:
        return int(self.log["blockNumber"])

    def event(self) -> EventData:
        if self.decoded is None:
            self.decoded = self.kind.event.process_log(self.log)
        return self.decoded


class EventReader:
    """Decoded events of one market.

    Args:
        client: the market client (read-only is enough).
        from_block: first block to scan (the deployment block).
        cache: where scanned logs are kept (default: in memory, for this reader's life).
        confirmations: blocks below the head before one is kept, and shown by default.
    """

    def __init__(
        self,
        client: MarketClient,
        from_block: int = 0,
        *,
        cache: EventCache | None = None,
        confirmations: int = 0,
    ) -> None:
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations}")
        self.client = client
        self.from_block = from_block
        self.confirmations = confirmations
        self.cache = cache if cache is not None else EventCache()
        self.fetcher = LogFetcher(
            client.connection, client.address, SpanPolicy(span=self.cache.span() or 10_000)
        )
        events = client.contract.events
        self._kinds = {
            HexBytes(getattr(events, name).topic): _Kind.of(getattr(events, name)())
            for name in EVENT_NAMES
        }
        self._held: list[_Held] | None = None  # the cached blocks' logs
        self._to = from_block - 1  # the last block ``_held`` covers
        self._lock = threading.Lock()

    def get(
        self,
        name: str,
        to_block: int | None = None,
        *,
        from_block: int | None = None,
        **filters: Any,
    ) -> list[EventData]:
        """Events ``name`` matching argument ``filters`` (e.g. ``taskId=1``), in chain order."""
        return self._query(to_block, from_block, filters, name)

    def all(
        self, to_block: int | None = None, *, from_block: int | None = None, **filters: Any
    ) -> list[EventData]:
        """Every event of the market in blocks ``from_block..to_block`` (default: from the
        reader's start to the last confirmed block) whose arguments match ``filters``."""
        return self._query(to_block, from_block, filters, None)

    def _query(
        self,
        to_block: int | None,
        from_block: int | None,
        filters: dict[str, Any],
        name: str | None,
    ) -> list[EventData]:
        """The matching events: indexed arguments are compared as topics, so only the logs a
        query returns (or filters on an unindexed argument) are ever decoded."""
        with self._lock:
            held = self._read(to_block)
            lowest = self.from_block if from_block is None else from_block
            topics: dict[tuple[_Kind, str], HexBytes] = {}
            found = []
            for h in held:
                kind = h.kind
                if h.block < lowest or (name is not None and kind.event.event_name != name):
                    continue
                if not filters.keys() <= kind.args:
                    continue
                if not all(
                    h.log["topics"][kind.indexed[k][0]]
                    == topics.setdefault((kind, k), kind.topic(k, v))
                    for k, v in filters.items()
                    if k in kind.indexed
                ):
                    continue
                event = h.event()
                if all(
                    _normal(event["args"][k]) == _normal(v)
                    for k, v in filters.items()
                    if k not in kind.indexed
                ):
                    found.append(event)
            return found

    # ───────────────────────────────────────────────────────── scanning

    def _read(self, to_block: int | None) -> list[_Held]:
        conn = self.client.connection
        head = int(conn.rpc(lambda: conn.w3.eth.block_number))
        confirmed = head - self.confirmations
        last = confirmed if to_block is None else min(to_block, head)
        self._sync(min(last, confirmed))
        held = self._held or []
        if last <= self._to:
            return [h for h in held if h.block <= last]
        return held + self._hold(self.fetcher.fetch(self._to + 1, last))  # not yet confirmed

    def _sync(self, confirmed: int) -> None:
        """Bring the cache (and the logs held from it) up to block ``confirmed``."""
        cover = self.cache.coverage()
        if cover is None or cover.start > self.from_block:
            cover, self._held = self.cache.reset(self.from_block), None
        elif cover.tip_hash and self._hash(cover.scanned_to) != cover.tip_hash:
            cover, self._held = self._roll_back(), None
        if self._held is None or self._to > cover.scanned_to:
            self._held = self._hold(self.cache.logs(cover.start - 1, cover.scanned_to))
        elif self._to < cover.scanned_to:  # another reader of the file scanned further
            self._held += self._hold(self.cache.logs(self._to, cover.scanned_to))
        self._to = cover.scanned_to
        if confirmed <= cover.scanned_to:
            return
        tip_hash = self._hash(confirmed)
        logs = self.fetcher.fetch(cover.scanned_to + 1, confirmed)
        self.cache.extend(logs, confirmed, tip_hash, self.fetcher.policy.span)
        self._held += self._hold(logs)
        self._to = confirmed

    def _roll_back(self) -> Coverage:
        """Go back to the newest cached block still on the chain, or start over."""
        for block, known in self.cache.anchors(ROLLBACK_CHECKS):
            if self._hash(block) == known:
                return self.cache.roll_back(block, known)
        return self.cache.reset(self.from_block)

    def _hash(self, block: int) -> str:
        """Block ``block``'s hash on the chain now; ``""`` past the head (a devnet reverted to
        an earlier snapshot, a reorganisation to a shorter chain)."""
        conn = self.client.connection
        try:
            header = conn.rpc(lambda: conn.w3.eth.get_block(block))
        except BlockNotFound:
            return ""
        return "0x" + bytes(header["hash"]).hex()

    def _hold(self, logs: Iterable[LogReceipt]) -> list[_Held]:
        """The logs of the market's own events (ownership's are the owner's tools' business)."""
        held = []
        for log in logs:
            kind = self._kinds.get(HexBytes(log["topics"][0])) if log["topics"] else None
            if kind is not None:
                held.append(_Held(log, kind))
        return held


def _normal(value: Any) -> Any:
    """Addresses compare without their checksum case."""
    return value.lower() if isinstance(value, str) and is_hex_address(value) else value
