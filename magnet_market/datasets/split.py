"""Which split a row goes to: a fixed function of the seed and the row's key, nothing else.

Rows of a table are keyed by their index and documents' pieces by their name and position, so
the same file and seed give the same splits on every machine, in one pass, without holding the
data. Series are cut by time instead (the holdout is the most recent stretch).
"""

from __future__ import annotations

import hashlib

import numpy as np

TRAIN, VAL, HOLDOUT = 0, 1, 2
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 (wrapping arithmetic): a fast, well-mixed hash."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _assign(u: np.ndarray, val_fraction: float, holdout_fraction: float) -> np.ndarray:
    out = np.full(u.shape, TRAIN, dtype=np.uint8)
    out[u < val_fraction + holdout_fraction] = VAL
    out[u < holdout_fraction] = HOLDOUT
    return out


def rows_split(
    first: int, count: int, seed: int, val_fraction: float, holdout_fraction: float
) -> np.ndarray:
    """Split of rows ``first .. first + count - 1`` (``uint8``: 0 train, 1 val, 2 holdout)."""
    index = np.arange(first, first + count, dtype=np.uint64)
    mixed = _splitmix64(index ^ _splitmix64(np.array([seed], dtype=np.uint64)))
    u = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return _assign(u, val_fraction, holdout_fraction)


def piece_split(
    name: str, part: int, seed: int, val_fraction: float, holdout_fraction: float
) -> int:
    """Split of piece ``part`` of document ``name``."""
    digest = hashlib.blake2b(f"{seed}\0{name}\0{part}".encode(), digest_size=8).digest()
    u = np.array([(int.from_bytes(digest, "big") >> 11) / float(1 << 53)])
    return int(_assign(u, val_fraction, holdout_fraction)[0])


def time_split(
    first: int, count: int, total: int, val_fraction: float, holdout_fraction: float
) -> np.ndarray:
    """Split of rows ``first ..`` of a series of ``total`` rows in time order: train first,
    then validation, the most recent ``holdout_fraction`` last."""
    index = np.arange(first, first + count)
    out = np.full(count, TRAIN, dtype=np.uint8)
    out[index >= total - round(total * (val_fraction + holdout_fraction))] = VAL
    out[index >= total - round(total * holdout_fraction)] = HOLDOUT
    return out
