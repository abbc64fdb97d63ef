"""Atomic file writes: a reader never sees half a file, a crash never leaves one.

The content goes to a temporary file beside the destination, is fsynced, renamed over the
destination, and the folder is fsynced so the rename itself survives a power cut. On any error
the temporary file is removed and the destination is left as it was. This is the only place in
the package that writes a file this way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[BinaryIO]:
    """A binary file to stream into; it becomes ``path`` only if the block ends without error.

    Args:
        path: destination; its folder is created if needed.
        mode: permission bits of the result (``0o600`` for secrets such as keystores).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644) -> None:
    """Write the whole of ``data`` (``str`` is UTF-8 encoded) to ``path`` atomically."""
    with atomic_file(path, mode) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
