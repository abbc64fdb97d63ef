"""Writing a dataset's shards: one Parquet stream per split, a new file every ``shard_bytes``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from magnet_market.datasets.errors import DatasetError
from magnet_market.datasets.manifest import SPLITS


@dataclass(frozen=True)
class PackedShard:
    """One Parquet file written by :func:`pack`."""

    split: str
    path: Path
    rows: int


@dataclass
class _SplitWriter:
    """The Parquet shards of one split, rolled over every ``shard_bytes`` Arrow bytes."""

    out: Path
    split: str
    schema: pa.Schema
    shard_bytes: int
    shards: list[PackedShard] = field(default_factory=list)
    _writer: pq.ParquetWriter | None = None
    _path: Path | None = None
    _rows: int = 0
    _bytes: int = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self._path = self.out / f"{self.split}-{len(self.shards):05d}.parquet"
            self._writer = pq.ParquetWriter(self._path, self.schema, compression="zstd")
        self._writer.write_batch(batch)
        self._rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._bytes >= self.shard_bytes:
            self.close()

    def close(self) -> None:
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        self.shards.append(PackedShard(self.split, self._path, self._rows))
        self._writer, self._path, self._rows, self._bytes = None, None, 0, 0


class SplitShards:
    """One writer per split; ``write`` sends each row of a batch to the split ``which`` says."""

    def __init__(self, out: Path, schema: pa.Schema, shard_bytes: int) -> None:
        self.writers = [_SplitWriter(out, s, schema, shard_bytes) for s in SPLITS]

    def write(self, batch: pa.RecordBatch, which: np.ndarray) -> None:
        for code, writer in enumerate(self.writers):
            writer.write(batch.filter(pa.array(which == code)))

    def close(self, source: Path) -> tuple[PackedShard, ...]:
        for w in self.writers:
            w.close()
        empty = [w.split for w in self.writers if not w.shards]
        if empty:
            raise DatasetError(
                f"{source}: too little data for the split fractions: no rows went to "
                f"{', '.join(empty)} (add data or raise the fractions)"
            )
        return tuple(s for w in self.writers for s in w.shards)
