"""Checking a fetched shard against its manifest (after the store checked its bytes' CID)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from magnet_market.datasets.manifest import DatasetManifest, Shard


def shard_problem(path: Path, manifest: DatasetManifest, shard: Shard) -> str | None:
    """Why the Parquet file at ``path`` is not the manifest's ``shard`` (``None``: it is)."""
    size = path.stat().st_size
    if size != shard.bytes:
        return f"{size:,} bytes, the manifest says {shard.bytes:,}"
    try:
        meta = pq.ParquetFile(path)
        schema, rows = meta.schema_arrow, meta.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as e:
        return f"not a readable Parquet file: {e}"
    got = [(f.name, str(f.type)) for f in schema]
    want = [(c.name, c.type) for c in manifest.columns]
    if got != want:
        return f"columns {got}, the manifest says {want}"
    if rows != shard.rows:
        return f"{rows:,} rows, the manifest says {shard.rows:,}"
    return None
