"""A dataset on disk: its manifest and its verified Parquet shards, read by split.

The application layer fetches the shards, checks them against their CIDs and the manifest, and
only then writes ``manifest.json`` beside them; a folder with that file is a verified dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from magnet_market.datasets.errors import DatasetError
from magnet_market.datasets.manifest import DatasetManifest, parse_manifest

MANIFEST_NAME = "manifest.json"


def shard_path(folder: Path, cid: str) -> Path:
    """Where shard ``cid`` of a dataset lives in its folder."""
    return folder / f"{cid}.parquet"


@dataclass(frozen=True)
class LocalDataset:
    """A verified dataset folder (see the module docstring)."""

    folder: Path
    manifest: DatasetManifest

    @classmethod
    def open(cls, folder: str | Path) -> LocalDataset:
        folder = Path(folder)
        try:
            manifest = parse_manifest((folder / MANIFEST_NAME).read_bytes())
        except OSError as e:
            raise DatasetError(f"{folder} holds no verified dataset ({e.strerror})") from None
        dataset = cls(folder, manifest)
        missing = [
            p.name for split in manifest.splits for p in dataset.paths(split) if not p.is_file()
        ]
        if missing:
            raise DatasetError(f"{folder}: shards missing: {', '.join(missing)}")
        return dataset

    def paths(self, split: str) -> list[Path]:
        """The shard files of ``split``, in the manifest's order."""
        return [shard_path(self.folder, s.cid) for s in self.manifest.splits[split].shards]

    def read(self, split: str) -> pa.Table:
        """Every row of ``split``, in order."""
        tables = [pq.read_table(p) for p in self.paths(split)]
        if not tables:
            return pa.Table.from_pylist([], schema=pq.read_schema(self.paths("train")[0]))
        return pa.concat_tables(tables)
