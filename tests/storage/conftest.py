"""Storage fixtures: a real offline IPFS daemon on loopback, fresh stores, the CID vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magnet_market.storage import LocalStore

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def gen(n: int) -> bytes:
    """The vectors' generator: ``bytes(i % 251 for i in range(n))``, built fast."""
    period = bytes(range(251))
    return (period * (n // 251 + 1))[:n]


def vector_bytes(vector: dict[str, Any]) -> bytes:
    if vector["generator"] == "b'hello world'":
        return b"hello world"
    assert vector["generator"] == f"gen({vector['size']})", vector["generator"]
    return gen(vector["size"])


def load_vectors() -> list[dict[str, Any]]:
    return json.loads((DATA / "cid_vectors.json").read_text())["vectors"]


FILE_VECTORS = [v for v in load_vectors() if v["kind"] == "file"]
DIR_VECTORS = [v for v in load_vectors() if v["kind"].startswith("directory")]


def write_dir_vector(vector: dict[str, Any], folder: Path) -> Path:
    """Materialise a directory vector (its generator is a literal dict of name -> bytes)."""
    files = {
        "dir_wrap_two_files": {"a.txt": b"hello\n", "b.bin": bytes(range(256))},
    }[vector["name"]]
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")
