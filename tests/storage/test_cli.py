"""`magnet ipfs …` through click's CliRunner, on the LocalStore and on the real node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from magnet_market.cli import main
from magnet_market.storage import CHUNK_SIZE, LocalStore, cid_of_bytes
from magnet_market.storage.devnode import DevNode

from .conftest import FILE_VECTORS, vector_bytes


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MAGNET_IPFS_API", raising=False)
    monkeypatch.setenv("MAGNET_STORE", str(tmp_path / "store"))
    return tmp_path / "store"


@pytest.fixture
def payload(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(2 * CHUNK_SIZE + 9)
    path = tmp_path / "ckpt.bin"
    path.write_bytes(data)
    return path, data


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, ["ipfs", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_add_prints_only_the_cid(runner: CliRunner, store_dir: Path, tmp_path: Path) -> None:
    vector = next(v for v in FILE_VECTORS if v["name"] == "mod251_262145")
    path = tmp_path / "v.bin"
    path.write_bytes(vector_bytes(vector))
    assert _ok(runner, "add", str(path)) == vector["cid_v1_raw"] + "\n"
    assert _ok(runner, "add", "--cid-version", "0", str(path)) == vector["cid_v0"] + "\n"
    assert LocalStore(store_dir).get(vector["cid_v1_raw"]) == vector_bytes(vector)


def test_only_hash_stores_nothing(runner: CliRunner, store_dir: Path, payload: tuple) -> None:
    path, data = payload
    assert _ok(runner, "add", "--only-hash", str(path)).strip() == str(cid_of_bytes(data))
    assert not store_dir.exists()


def test_get_pin_ls_and_gc(runner: CliRunner, store_dir: Path, payload: tuple) -> None:
    path, data = payload
    cid = _ok(runner, "add", str(path)).strip()
    assert _ok(runner, "ls") == cid + "\n"
    assert runner.invoke(main, ["ipfs", "get", cid]).stdout_bytes == data
    out = path.parent / "out.bin"
    _ok(runner, "get", cid, "-o", str(out))
    assert out.read_bytes() == data

    _ok(runner, "unpin", cid)
    assert _ok(runner, "ls") == ""
    assert _ok(runner, "gc", "--yes") == "removed 4 blocks\n"
    result = runner.invoke(main, ["ipfs", "get", cid])
    assert result.exit_code == 1
    assert "not in" in result.output


def test_wrap_and_directory_get(runner: CliRunner, store_dir: Path, payload: tuple) -> None:
    path, data = payload
    cid = _ok(runner, "add", "--wrap", str(path)).strip()
    result = runner.invoke(main, ["ipfs", "get", cid])
    assert result.exit_code == 1 and "directory" in result.output
    _ok(runner, "get", cid, "-o", str(path.parent / "out"))
    assert (path.parent / "out" / "ckpt.bin").read_bytes() == data


def test_car_export_import(runner: CliRunner, store_dir: Path, payload: tuple) -> None:
    path, data = payload
    cid = _ok(runner, "add", str(path)).strip()
    car = path.parent / "x.car"
    _ok(runner, "car", "export", cid, "-o", str(car))
    other = path.parent / "other"
    result = runner.invoke(main, ["ipfs", "--store", str(other), "car", "import", str(car)])
    assert result.exit_code == 0 and result.stdout == cid + "\n"
    assert LocalStore(other).get(cid) == data


def test_default_store_is_under_magnet_home(
    runner: CliRunner, magnet_home: Path, payload: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAGNET_STORE", raising=False)
    monkeypatch.delenv("MAGNET_IPFS_API", raising=False)
    path, data = payload
    cid = _ok(runner, "add", str(path)).strip()
    assert LocalStore(magnet_home / "ipfs").get(cid) == data


def test_errors_map_to_exit_codes(runner: CliRunner, store_dir: Path, tmp_path: Path) -> None:
    bad = runner.invoke(main, ["ipfs", "get", "not-a-cid"])
    assert bad.exit_code == 2 and "not-a-cid" in bad.output
    corrupt = tmp_path / "bad.car"
    corrupt.write_bytes(b"\x05garbage")
    result = runner.invoke(main, ["ipfs", "car", "import", str(corrupt)])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_against_the_node(runner: CliRunner, ipfs_node: DevNode, payload: tuple) -> None:
    path, data = payload
    api = ["ipfs", "--api", ipfs_node.api_url]
    result = runner.invoke(main, [*api, "add", str(path)])
    cid = result.stdout.strip()
    assert result.exit_code == 0 and cid == str(cid_of_bytes(data))
    assert cid in runner.invoke(main, [*api, "ls"]).stdout.split()
    assert runner.invoke(main, [*api, "get", cid]).stdout_bytes == data
    gc = runner.invoke(main, [*api, "gc", "--yes"])
    assert gc.exit_code == 2 and "embedded store" in gc.output
