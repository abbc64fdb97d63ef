"""The sponsor's holdout keys: the seed of each sealed dataset's key chain, kept on its machine.

One file per dataset under ``$MAGNET_HOME/holdouts``, readable by its owner only, written
atomically once the dataset is pinned. Losing it loses the holdout: nobody can open the slices,
every round is judged on the public validation split and the sponsor forfeits its bond. The seed
never appears in a log or an error message.
"""

from __future__ import annotations

import json
from pathlib import Path

from magnet_market._atomic import write_atomic
from magnet_market.config import magnet_home
from magnet_market.datasets import DatasetError, DatasetManifest
from magnet_market.datasets.seal import chain_head, key_chain


class HoldoutKeysError(DatasetError):
    """The holdout keys of a sealed dataset are missing or do not match its manifest."""


def keys_path(dataset_cid: str, home: Path | None = None) -> Path:
    """Where the sponsor keeps the seed of dataset ``dataset_cid``'s holdout (under ``home``,
    by default ``$MAGNET_HOME``)."""
    return (home or magnet_home()) / "holdouts" / f"{dataset_cid}.json"


def save_seed(dataset_cid: str, seed: bytes, slices: int, home: Path | None = None) -> Path:
    """Keep ``seed`` for the dataset (owner-only file); returns its path."""
    path = keys_path(dataset_cid, home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {"dataset": dataset_cid, "slices": slices, "seed": seed.hex()}
    write_atomic(path, json.dumps(record, sort_keys=True) + "\n", mode=0o600)
    return path


def load_keys(dataset_cid: str, manifest: DatasetManifest, home: Path | None = None) -> list[bytes]:
    """Every round's key of the dataset's sealed holdout, checked against the manifest's head."""
    if manifest.seal is None:
        raise HoldoutKeysError(f"dataset {dataset_cid} has no sealed holdout")
    path = keys_path(dataset_cid, home)
    try:
        record = json.loads(path.read_text())
        keys = key_chain(bytes.fromhex(record["seed"]), int(record["slices"]))
    except FileNotFoundError:
        raise HoldoutKeysError(
            f"no holdout keys for dataset {dataset_cid} in {path.parent}: only the sponsor that "
            "packed it holds them (pack it again on this machine, or copy that file here)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HoldoutKeysError(f"{path}: not a holdout keys file ({type(e).__name__})") from None
    if "0x" + chain_head(keys).hex() != manifest.seal.head or len(keys) != manifest.slices:
        raise HoldoutKeysError(f"{path}: its keys do not open dataset {dataset_cid}'s holdout")
    return keys
