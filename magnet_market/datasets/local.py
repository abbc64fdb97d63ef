"""A dataset on disk: its manifest and its verified Parquet shards, read by split.

The application layer fetches the shards, checks them against their CIDs and the manifest, and
only then writes ``manifest.json`` beside them; a folder with that file is a verified dataset.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from magnet_market.datasets.errors import DatasetError
from magnet_market.datasets.manifest import SPLITS, DatasetManifest, parse_manifest

MANIFEST_NAME = "manifest.json"


def shard_path(folder: Path, cid: str) -> Path:
    """Where shard ``cid`` of a dataset lives in its folder (a sealed slice too, still sealed)."""
    return folder / f"{cid}.parquet"


def partial_path(path: Path) -> Path:
    """A file beside ``path`` that only this process and thread writes: roles of one user share
    a dataset cache and may fetch or open the same file at once; each writes its own, checks it
    and moves it into place atomically, so either copy may win."""
    return path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")


def slice_path(folder: Path, index: int) -> Path:
    """Where slice ``index`` of a sealed holdout lives once opened with its key."""
    return folder / f"holdout-slice-{index:03d}.parquet"


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

    def reads_through(self, judged: str) -> list[str]:
        """The parts of the data in time order up to ``judged``: ``train``, ``val``, then either
        the holdout or, for slice r of a sealed one (``holdout:r``), slices 0..r."""
        if judged in ("train", "val", "holdout"):
            return list(SPLITS[: SPLITS.index(judged) + 1])
        return ["train", "val", *(f"holdout:{i}" for i in range(self.slice_index(judged) + 1))]

    def slice_index(self, part: str) -> int:
        """r of ``holdout:r``, checked against the sealed holdout's slices."""
        _, _, number = part.partition(":")
        slices = self.manifest.slices
        if not part.startswith("holdout:") or not number.isdigit() or int(number) >= slices:
            raise DatasetError(
                f"{part!r} is not a slice of this dataset's sealed holdout ({slices} slices)"
            )
        return int(number)

    def read(self, split: str) -> pa.Table:
        """Every row of ``split`` (or of an opened holdout slice, ``holdout:r``), in order."""
        if split.startswith("holdout:"):
            path = slice_path(self.folder, self.slice_index(split))
            if not path.is_file():
                raise DatasetError(f"{split} of {self.folder} is still sealed: no key opened it")
            return pq.read_table(path)
        if split == "holdout" and self.manifest.seal is not None:
            raise DatasetError("the holdout is sealed: read its slices (holdout:r) once opened")
        tables = [pq.read_table(p) for p in self.paths(split)]
        if not tables:
            return pa.Table.from_pylist([], schema=pq.read_schema(self.paths("train")[0]))
        return pa.concat_tables(tables)
