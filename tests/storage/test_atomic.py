"""The one atomic-write helper: whole files or nothing, fsynced, no temporary left behind."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from magnet_market import _atomic
from magnet_market._atomic import atomic_file, write_atomic
from magnet_market.storage.reader import write_stream_atomic


def test_write_atomic_writes_text_and_bytes_with_the_mode(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_atomic(path, "héllo")
    assert path.read_bytes() == "héllo".encode()
    write_atomic(path, b"\x00\x01", mode=0o600)
    assert path.read_bytes() == b"\x00\x01" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["a.json"]


def test_atomic_file_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(_atomic.os, "fsync", spy)
    with atomic_file(tmp_path / "x.bin") as f:
        f.write(b"data")
    assert synced == ["file", "dir"]


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(path) as f:
        f.write(b"half of the new")
        raise RuntimeError("crash mid-write")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]


def test_a_failing_stream_leaves_nothing(tmp_path):
    def chunks() -> Iterator[bytes]:
        yield b"first"
        raise ValueError("block failed its CID check")

    dest: Path = tmp_path / "out" / "file.bin"
    with pytest.raises(ValueError, match="CID check"):
        write_stream_atomic(dest, chunks())
    assert os.listdir(dest.parent) == []
    write_stream_atomic(dest, iter([b"a", b"b"]))
    assert dest.read_bytes() == b"ab"
