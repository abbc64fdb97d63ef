"""The market's logs kept on disk, so a restart reads only the blocks it has not seen.

One SQLite file per chain and market (``$MAGNET_HOME/cache/events/<chain id>-<address>.sqlite``)
holds the raw logs of the blocks scanned so far, the last scanned block and its hash, and the
span the provider accepted. Only confirmed blocks are kept (the reader's ``confirmations``); the
reader checks the last block's hash before trusting the file and rolls it back to the newest
block still on the chain after a reorganisation (or a devnet restarted at the same address).
Each change is one transaction: a killed process leaves the file as it was before or after.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3.types import LogReceipt

from magnet_market.config import magnet_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    tx_index INTEGER NOT NULL,
    address TEXT NOT NULL,
    topics TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
);
"""


@dataclass(frozen=True)
class Coverage:
    """Blocks ``start..scanned_to`` are in the cache; ``tip_hash`` is block ``scanned_to``'s."""

    start: int
    scanned_to: int
    tip_hash: str


def cache_path(chain_id: int, address: str) -> Path:
    """Where the logs of market ``address`` on chain ``chain_id`` are kept."""
    return magnet_home() / "cache" / "events" / f"{chain_id}-{address.lower()}.sqlite"


class EventCache:
    """Raw logs of one market, by block.

    Args:
        path: the SQLite file (created with its folder); ``None``: kept in memory only.
    """

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # roles of one machine may share the file: wait for another writer rather than fail
        # (its reader serializes its own threads: the dashboard's requests share one reader)
        self._db = sqlite3.connect(
            str(path) if path else ":memory:",
            timeout=30.0,
            check_same_thread=False,
            isolation_level=None,  # transactions are explicit: see _writing
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    # ───────────────────────────────────────────────────────── what is covered

    def coverage(self) -> Coverage | None:
        """The scanned blocks, or ``None`` before the first scan."""
        meta = self._meta()
        if "start" not in meta:
            return None
        return Coverage(int(meta["start"]), int(meta["scanned_to"]), meta["tip_hash"])

    def span(self) -> int | None:
        """The ``eth_getLogs`` span the provider last accepted, if any."""
        value = self._meta().get("span")
        return int(value) if value else None

    def reset(self, start: int) -> Coverage:
        """Forget every log: the next scan starts at ``start``. Returns the (empty) coverage."""
        with self._writing():
            self._db.execute("DELETE FROM logs")
            self._db.execute("DELETE FROM meta WHERE key != 'span'")
            self._set(start=start, scanned_to=start - 1, tip_hash="")
        return Coverage(start, start - 1, "")

    def extend(self, logs: list[LogReceipt], scanned_to: int, tip_hash: str, span: int) -> None:
        """Add the logs of the blocks after the covered ones, through ``scanned_to``. Another
        reader of the file may have scanned further meanwhile: the coverage never goes back."""
        rows = [_row(log) for log in logs]
        with self._writing():
            self._db.executemany("INSERT OR REPLACE INTO logs VALUES (?,?,?,?,?,?,?,?)", rows)
            cover = self.coverage()
            if cover is None or scanned_to > cover.scanned_to:
                self._set(scanned_to=scanned_to, tip_hash=tip_hash)
            self._set(span=span)

    def roll_back(self, block: int, block_hash: str) -> Coverage:
        """Drop the logs after ``block``, whose hash is ``block_hash`` on the chain now.
        Returns the coverage left."""
        with self._writing():
            self._db.execute("DELETE FROM logs WHERE block > ?", (block,))
            self._set(scanned_to=block, tip_hash=block_hash)
            start = int(self._meta()["start"])
        return Coverage(start, block, block_hash)

    def anchors(self, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` newest blocks whose hash the cache knows (the tip, blocks with
        logs), newest first: where a rollback can stop."""
        known: list[tuple[int, str]] = []
        cover = self.coverage()
        if cover is not None and cover.tip_hash:
            known.append((cover.scanned_to, cover.tip_hash))
        rows = self._db.execute(
            "SELECT DISTINCT block, block_hash FROM logs ORDER BY block DESC LIMIT ?", (limit,)
        )
        known.extend((int(b), str(h)) for b, h in rows if not known or b < known[0][0])
        return known[:limit]

    # ───────────────────────────────────────────────────────── the logs

    def logs(self, after: int, through: int) -> list[LogReceipt]:
        """The cached logs of blocks ``after + 1 .. through``, in chain order."""
        rows = self._db.execute(
            "SELECT * FROM logs WHERE block > ? AND block <= ? ORDER BY block, log_index",
            (after, through),
        )
        return [_log(row) for row in rows]

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction that takes the file's write lock first (waiting for another
        process's, up to the timeout), so it never reads a snapshot another writer then makes
        stale: that upgrade fails at once with "database is locked", whatever the timeout."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def _set(self, **values: Any) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()]
        )


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _row(log: LogReceipt) -> tuple[Any, ...]:
    return (
        int(log["blockNumber"]),
        int(log["logIndex"]),
        _hex(log["blockHash"]),
        _hex(log["transactionHash"]),
        int(log["transactionIndex"]),
        str(log["address"]),
        json.dumps([_hex(t) for t in log["topics"]]),
        _hex(log["data"]),
    )


def _log(row: tuple[Any, ...]) -> LogReceipt:
    block, log_index, block_hash, tx_hash, tx_index, address, topics, data = row
    return LogReceipt(
        address=address,
        blockHash=HexBytes(block_hash),
        blockNumber=block,
        data=HexBytes(data),
        logIndex=log_index,
        removed=False,
        topics=[HexBytes(t) for t in json.loads(topics)],
        transactionHash=HexBytes(tx_hash),
        transactionIndex=tx_index,
    )
