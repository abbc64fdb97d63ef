"""A sealed holdout: the packed holdout cut into one slice per round, each sealed under its key;
and a slice opened again once its key is known.

The slices are contiguous runs of the holdout's rows in their packed order (for a series, time
order: round 0 is judged on the earliest holdout rows). Opening a slice checks it like any shard
(columns and rows against the manifest) after the cipher's tag has checked every byte.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from magnet_market.datasets.check import parquet_problem
from magnet_market.datasets.errors import DatasetError
from magnet_market.datasets.local import LocalDataset, partial_path, slice_path
from magnet_market.datasets.manifest import Seal
from magnet_market.datasets.pack import PackedDataset
from magnet_market.datasets.seal import chain_head, seal, unseal
from magnet_market.datasets.shards import PackedShard


def seal_holdout(packed: PackedDataset, keys: Sequence[bytes], out: Path) -> PackedDataset:
    """``packed`` with its holdout cut into ``len(keys)`` slices, slice r sealed under
    ``keys[r]`` (files under ``out``); the manifest will carry the chain's head."""
    holdout = [s for s in packed.shards if s.split == "holdout"]
    total = sum(s.rows for s in holdout)
    if total < len(keys):
        raise DatasetError(
            f"the holdout has {total} rows: too few for {len(keys)} slices (one per round); "
            "add data, raise the holdout fraction or seal fewer slices"
        )
    sealed = []
    for index, rows in enumerate(_cut(holdout, len(keys))):
        plain = pa.BufferOutputStream()  # the Parquet bytes go straight to the cipher
        pq.write_table(rows, plain, compression="zstd")
        path = out / f"holdout-slice-{index:03d}.sealed"
        path.write_bytes(seal(plain.getvalue().to_pybytes(), keys[index]))
        sealed.append(PackedShard("holdout", path, rows.num_rows))
    others = tuple(s for s in packed.shards if s.split != "holdout")
    head = Seal(head="0x" + chain_head(list(keys)).hex())
    return dataclasses.replace(packed, shards=others + tuple(sealed), seal=head)


def _cut(shards: Sequence[PackedShard], slices: int) -> list[pa.Table]:
    """The rows of ``shards`` in order, cut into ``slices`` runs as even as rows allow."""
    table = pa.concat_tables([pq.read_table(s.path) for s in shards])
    bounds = [round(i * table.num_rows / slices) for i in range(slices + 1)]
    return [table.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]


def open_slice(dataset: LocalDataset, index: int, key: bytes) -> Path:
    """Decrypt slice ``index`` of ``dataset``'s sealed holdout with its round's key, check it
    against the manifest and keep it beside the shards (``read(f"holdout:{index}")``)."""
    manifest = dataset.manifest
    if manifest.seal is None:
        raise DatasetError(f"dataset in {dataset.folder} has no sealed holdout")
    shards = manifest.splits["holdout"].shards
    if not 0 <= index < len(shards):
        raise DatasetError(f"the sealed holdout has {len(shards)} slices, no slice {index}")
    path = slice_path(dataset.folder, index)
    if path.is_file():
        return path  # written only after the checks below passed
    what = f"holdout slice {index} ({shards[index].cid})"
    plain = unseal(dataset.paths("holdout")[index].read_bytes(), key, what)
    check = partial_path(path)
    check.write_bytes(plain)
    problem = parquet_problem(check, manifest, shards[index].rows)
    if problem is not None:
        check.unlink()
        raise DatasetError(f"{what}: {problem}")
    check.replace(path)
    return path
