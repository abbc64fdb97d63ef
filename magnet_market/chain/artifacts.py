"""Compiled contract artifacts: what running the package needs instead of a compiler."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from hashlib import sha256
from pathlib import Path
from typing import Any

from magnet_market._atomic import write_atomic

ARTIFACTS_DIR = Path(__file__).resolve().with_name("artifacts")


@dataclass(frozen=True)
class Artifact:
    """ABI, bytecode and the exact inputs that produced them."""

    contract_name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    #: ``[start, length]`` byte ranges of the runtime code that a deployment fills with its
    #: immutables (the market's floors): zero here, set in the code on chain.
    immutable_ranges: list[list[int]]
    compiler: str
    settings: dict[str, Any]
    source_hashes: dict[str, str]

    @property
    def digest(self) -> str:
        """sha256 of the creation bytecode: identifies what a deployment runs."""
        return sha256(bytes.fromhex(self.bytecode.removeprefix("0x"))).hexdigest()

    def save(self, path: Path) -> None:
        """Write as pretty JSON (reviewable diffs), atomically."""
        write_atomic(path, json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> Artifact:
        """Read an artifact written by :meth:`save`."""
        return cls(**json.loads(path.read_text()))


@cache
def load_artifact(name: str = "MagnetMarket") -> Artifact:
    """The committed artifact of contract ``name``."""
    return Artifact.load(ARTIFACTS_DIR / f"{name}.json")
