"""Checking a fetched shard against its manifest (after the store checked its bytes' CID)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from magnet_market.datasets.manifest import DatasetManifest, Shard


def shard_problem(
    path: Path, manifest: DatasetManifest, shard: Shard, sealed: bool = False
) -> str | None:
    """Why the file at ``path`` is not the manifest's ``shard`` (``None``: it is). A ``sealed``
    slice is checked by size only until its key opens it (``holdout.open_slice``)."""
    size = path.stat().st_size
    if size != shard.bytes:
        return f"{size:,} bytes, the manifest says {shard.bytes:,}"
    return None if sealed else parquet_problem(path, manifest, shard.rows)


def parquet_problem(path: Path, manifest: DatasetManifest, want_rows: int) -> str | None:
    """Why the Parquet file at ``path`` does not hold ``want_rows`` rows of the manifest's
    columns (``None``: it does)."""
    try:
        meta = pq.ParquetFile(path)
        schema, rows = meta.schema_arrow, meta.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as e:
        return f"not a readable Parquet file: {e}"
    got = [(f.name, str(f.type)) for f in schema]
    want = [(c.name, c.type) for c in manifest.columns]
    if got != want:
        return f"columns {got}, the manifest says {want}"
    if rows != want_rows:
        return f"{rows:,} rows, the manifest says {want_rows:,}"
    return None
