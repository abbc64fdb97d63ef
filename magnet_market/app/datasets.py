"""Datasets in the content store: pack and pin a sponsor's files, fetch and verify by CID.

The shards are added first and the manifest naming their CIDs last, so a dataset CID exists
only once everything it names is stored; a source refused by the packer pins nothing. Fetched
shards are checked twice: their bytes against their CID (by the store), their content against
the manifest (columns, rows, size); verified shards are cached under ``$MAGNET_HOME/datasets``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from magnet_market._atomic import write_atomic
from magnet_market.app.holdout_keys import save_seed
from magnet_market.config import magnet_home
from magnet_market.datasets import DatasetError, DatasetManifest, PackOptions, pack, parse_manifest
from magnet_market.datasets.check import shard_problem
from magnet_market.datasets.holdout import seal_holdout
from magnet_market.datasets.local import MANIFEST_NAME, LocalDataset, partial_path, shard_path
from magnet_market.datasets.manifest import SPLITS, Shard
from magnet_market.datasets.seal import key_chain, new_seed
from magnet_market.storage import ContentStore, StorageError
from magnet_market.tasks.builtin_data import builtin_source


@dataclass(frozen=True)
class PublishedDataset:
    """A dataset in the store: its CID and what it names."""

    cid: str
    manifest: DatasetManifest


@dataclass(frozen=True)
class ShardCheck:
    """One shard fetched and checked."""

    split: str
    index: int
    cid: str
    rows: int
    problem: str | None  # None: the bytes match the CID and the content matches the manifest

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class DatasetCheck:
    """Every shard of a dataset fetched and checked (``magnet dataset verify``)."""

    cid: str
    manifest: DatasetManifest
    shards: tuple[ShardCheck, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.shards)

    def as_dict(self) -> dict[str, object]:
        return {
            "cid": self.cid,
            "ok": self.ok,
            "kind": self.manifest.kind,
            "rows": self.manifest.rows,
            "shards": [
                {
                    "split": s.split,
                    "index": s.index,
                    "cid": s.cid,
                    "rows": s.rows,
                    "problem": s.problem,
                }
                for s in self.shards
            ],
        }


def publish_dataset(
    store: ContentStore, source: Path, options: PackOptions, keys_home: Path | None = None
) -> PublishedDataset:
    """Pack ``source`` and pin its shards, then its manifest; returns the dataset CID. With
    ``options.holdout_slices``, the holdout is sealed under a fresh key chain whose seed is
    kept in the sponsor's home (``keys_home``, by default ``$MAGNET_HOME``) once the dataset
    CID is known."""
    seed = new_seed() if options.holdout_slices else None
    with tempfile.TemporaryDirectory(prefix="magnet-pack-") as tmp:
        packed = pack(source, Path(tmp), options)
        if seed is not None:
            packed = seal_holdout(packed, key_chain(seed, options.holdout_slices), Path(tmp))
        cids = {s.path: str(store.add_path(s.path)) for s in packed.shards}
        manifest = packed.manifest(cids)
    cid = str(store.add_bytes(manifest.canonical_json()))
    if seed is not None:
        save_seed(cid, seed, options.holdout_slices, keys_home)
    return PublishedDataset(cid, manifest)


def publish_builtin(
    store: ContentStore, name: str, holdout_slices: int = 0, keys_home: Path | None = None
) -> PublishedDataset:
    """Pack and pin built-in dataset ``name`` (``tasks.builtin_data``): unsealed, its CID is
    the pinned one; sealed, a fresh secret like any sponsor's."""
    with tempfile.TemporaryDirectory(prefix="magnet-builtin-") as tmp:
        source, options = builtin_source(name, Path(tmp))
        options = dataclasses.replace(options, holdout_slices=holdout_slices)
        return publish_dataset(store, source, options, keys_home)


def load_manifest(store: ContentStore, cid: str) -> DatasetManifest:
    """The manifest a dataset CID names, verified against the CID and parsed."""
    try:
        data = store.get(cid)
    except StorageError as e:
        raise DatasetError(f"cannot fetch dataset {cid}: {e}") from None
    return parse_manifest(data)


def dataset_cache(cid: str) -> Path:
    """Where the verified shards of dataset ``cid`` are kept."""
    return magnet_home() / "datasets" / cid


def verify_dataset(store: ContentStore, cid: str, cache: Path | None = None) -> DatasetCheck:
    """Fetch every shard of dataset ``cid`` and check it; nothing failing is kept in the cache."""
    manifest = load_manifest(store, cid)
    folder = cache or dataset_cache(cid)
    checks = []
    for split in SPLITS:
        for i, shard in enumerate(manifest.splits[split].shards):
            problem = _fetch_shard(store, manifest, split, shard, folder)[1]
            checks.append(ShardCheck(split, i, shard.cid, shard.rows, problem))
    return DatasetCheck(cid, manifest, tuple(checks))


def fetch_dataset(store: ContentStore, cid: str, cache: Path | None = None) -> LocalDataset:
    """Dataset ``cid`` on disk, every shard verified: fetched once, then read from the cache
    (its ``manifest.json`` is written only after every shard passed both checks)."""
    folder = cache or dataset_cache(cid)
    if (folder / MANIFEST_NAME).is_file():
        return LocalDataset.open(folder)
    manifest = load_manifest(store, cid)
    for split in SPLITS:
        for shard in manifest.splits[split].shards:
            problem = _fetch_shard(store, manifest, split, shard, folder)[1]
            if problem is not None:
                raise DatasetError(f"dataset {cid}: {split} shard {shard.cid}: {problem}")
    write_atomic(folder / MANIFEST_NAME, manifest.canonical_json())
    return LocalDataset.open(folder)


def _fetch_shard(
    store: ContentStore, manifest: DatasetManifest, split: str, shard: Shard, folder: Path
) -> tuple[Path, str | None]:
    path = shard_path(folder, shard.cid)
    if path.exists():
        return path, None  # written here only after both checks passed
    folder.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        store.get_to_path(shard.cid, partial)
    except StorageError as e:
        return path, f"cannot fetch: {e}"
    sealed = split == "holdout" and manifest.seal is not None
    problem = shard_problem(partial, manifest, shard, sealed)
    if problem is None:
        partial.replace(path)
    else:
        partial.unlink(missing_ok=True)
    return path, problem
