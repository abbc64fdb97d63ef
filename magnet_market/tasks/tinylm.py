"""The ``tinylm`` task: a byte-level language model on Python standard library sources.

The data needs no download, and is the same bytes on every machine and every Python: a frozen
copy of CPython's standard library ``.py`` files (``corpus/``, 4 MiB to train on and 512 KiB to
validate on, from the version ``corpus/tinylm.json`` names), shipped with the package and
checked against its SHA-256 on every load. Files are split into train and validation by a hash
of their relative path, so the split is deterministic and a file never straddles it.
``freeze_corpus`` wrote the copy (``scripts/freeze_tinylm_corpus.py``); ``root=`` builds the
streams from another source tree instead.

Metric: validation loss (nats per byte) and bits per byte (loss / ln 2).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import math
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from magnet_market._atomic import write_atomic

# Skipped: installed packages are not the stdlib; the test suites are mostly fixtures.
_SKIP_DIRS = frozenset(
    {"site-packages", "dist-packages", "__pycache__", "lib2to3", "test", "tests", "idle_test"}
)
SEPARATOR = 0  # byte placed between files; NUL never occurs in Python source


def stdlib_files(root: Path | None = None) -> list[Path]:
    """Sorted ``.py`` files under the standard library (relative order is the data order)."""
    root = Path(root or sysconfig.get_path("stdlib"))
    if not root.is_dir():
        raise FileNotFoundError(f"standard library not found at {root}; pass root= explicitly")
    files = [
        p
        for p in root.rglob("*.py")
        if p.is_file() and not _SKIP_DIRS.intersection(p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def is_val_file(rel_path: str, val_percent: int) -> bool:
    """Deterministic split by file: sha256 of the relative POSIX path, bucketed into 100."""
    h = int.from_bytes(hashlib.sha256(rel_path.encode()).digest()[:8], "big")
    return h % 100 < val_percent


class ByteStreams:
    """Train and validation byte streams, as a byte-level LM samples and scores them: random
    windows to train on, fixed evenly spaced windows to evaluate (the same on every machine).

    Subclasses set ``train`` and ``val`` (uint8 tensors) and ``seq_len``, ``eval_batches`` and
    ``eval_batch_size``.
    """

    train: torch.Tensor
    val: torch.Tensor
    seq_len: int
    eval_batches: int
    eval_batch_size: int

    def _check_lengths(self, remedy: str) -> None:
        for split, t in (("train", self.train), ("val", self.val)):
            if t.numel() <= self.seq_len + 1:
                raise ValueError(
                    f"only {t.numel()} {split} bytes for seq_len={self.seq_len}; {remedy}"
                )

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows: ``x, y`` of shape ``(B, T)`` int64, ``y`` shifted by one byte."""
        data = self._split(split)
        ix = torch.randint(0, data.numel() - self.seq_len - 1, (batch_size,), generator=generator)
        return self._windows(data, ix)

    def _split(self, split: str) -> torch.Tensor:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return self.train if split == "train" else self.val

    def _windows(self, data: torch.Tensor, ix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        offs = ix[:, None] + torch.arange(self.seq_len + 1)[None, :]
        w = data[offs].long()  # (B, T + 1)
        return w[:, :-1].contiguous(), w[:, 1:].contiguous()

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation loss over fixed, evenly spaced windows, and bits per byte."""
        n = self.eval_batches * self.eval_batch_size
        hi = self.val.numel() - self.seq_len - 1
        ix = torch.linspace(0, hi, n).long()
        was_training = model.training
        model.eval()
        total = 0.0
        for i in range(self.eval_batches):
            x, y = self._windows(
                self.val, ix[i * self.eval_batch_size : (i + 1) * self.eval_batch_size]
            )
            _, loss = model(x, y)
            total += float(loss)
        model.train(was_training)
        val_loss = total / self.eval_batches
        return {"val_loss": val_loss, "val_bpb": val_loss / math.log(2)}


#: The frozen corpus shipped with the package.
CORPUS_DIR = Path(__file__).parent / "corpus"
CORPUS_MANIFEST = "tinylm.json"


def read_tree(
    root: Path, max_train_bytes: int, max_val_bytes: int, val_percent: int
) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """The train and validation byte streams of a source tree, and the files in each: files in
    sorted order, each followed by a NUL, each split filled up to its cap (the last file cut)."""
    chunks: dict[str, list[bytes]] = {"train": [], "val": []}
    sizes = {"train": 0, "val": 0}
    caps = {"train": max_train_bytes, "val": max_val_bytes}
    files: dict[str, list[str]] = {"train": [], "val": []}
    for p in stdlib_files(root):
        rel = p.relative_to(root).as_posix()
        split = "val" if is_val_file(rel, val_percent) else "train"
        if sizes[split] >= caps[split]:
            if all(sizes[s] >= caps[s] for s in sizes):
                break
            continue
        data = p.read_bytes() + bytes([SEPARATOR])
        data = data[: caps[split] - sizes[split]]
        chunks[split].append(data)
        sizes[split] += len(data)
        files[split].append(rel)
    return {split: b"".join(c) for split, c in chunks.items()}, files


def freeze_corpus(
    root: Path,
    out: Path,
    max_train_bytes: int = 4 << 20,
    max_val_bytes: int = 512 << 10,
    val_percent: int = 10,
) -> dict[str, Any]:
    """Write the streams of the tree at ``root`` to ``out`` (xz) with a manifest: the Python
    version, the split, each stream's SHA-256 and the files in it. Returns the manifest."""
    streams, files = read_tree(root, max_train_bytes, max_val_bytes, val_percent)
    out.mkdir(parents=True, exist_ok=True)
    for split, data in streams.items():
        write_atomic(out / f"tinylm-{split}.bin.xz", lzma.compress(data, preset=9))
    manifest = {
        "source": f"CPython {platform.python_version()} standard library .py files "
        "(Python Software Foundation License)",
        "python_version": platform.python_version(),
        "val_percent": val_percent,
        "bytes": {split: len(data) for split, data in streams.items()},
        "sha256": {split: hashlib.sha256(data).hexdigest() for split, data in streams.items()},
        "files": files,
    }
    write_atomic(out / CORPUS_MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def load_corpus(
    corpus: Path, max_train_bytes: int, max_val_bytes: int, val_percent: int
) -> tuple[dict[str, bytes], dict[str, list[str]], str]:
    """The frozen streams at ``corpus``, cut to the caps (a prefix: the streams are files in
    order), their files, and the Python version they came from; each checked against its
    SHA-256 first."""
    manifest = json.loads((corpus / CORPUS_MANIFEST).read_text())
    if val_percent != manifest["val_percent"]:
        raise ValueError(
            f"the frozen corpus splits {manifest['val_percent']} % of files for validation, not "
            f"{val_percent}; build another split from a source tree with root="
        )
    streams, files = {}, {}
    for split, cap in (("train", max_train_bytes), ("val", max_val_bytes)):
        if cap > manifest["bytes"][split]:
            raise ValueError(
                f"the frozen corpus holds {manifest['bytes'][split]} {split} bytes, fewer than "
                f"{cap}; lower the cap or build from a source tree with root="
            )
        data = lzma.decompress((corpus / f"tinylm-{split}.bin.xz").read_bytes())
        if hashlib.sha256(data).hexdigest() != manifest["sha256"][split]:
            raise ValueError(f"the frozen corpus's {split} stream does not match its SHA-256")
        streams[split] = data[:cap]
        files[split] = _files_within(data, manifest["files"][split], cap)
    return streams, files, str(manifest["python_version"])


def _files_within(stream: bytes, names: list[str], cap: int) -> list[str]:
    """The files that begin within the stream's first ``cap`` bytes (each ends with a NUL)."""
    ends = np.flatnonzero(np.frombuffer(stream, dtype=np.uint8) == SEPARATOR)
    starts = np.concatenate([[0], ends + 1])  # a file starts after the NUL before it
    return [name for name, start in zip(names, starts.tolist(), strict=False) if start < cap]


@dataclass
class TinyLMData(ByteStreams):
    """Byte streams for training and validation.

    Args:
        seq_len: tokens per example.
        max_train_bytes: cap on training bytes (files taken in sorted order), keeps loads fast.
        max_val_bytes: cap on validation bytes.
        val_percent: share of files (by hash) held out for validation.
        eval_batches: batches in :meth:`evaluate`, at fixed offsets.
        root: a source tree to build the streams from; default the frozen corpus.
        corpus: where the frozen corpus is (default the package's).
    """

    seq_len: int = 256
    max_train_bytes: int = 4 << 20
    max_val_bytes: int = 512 << 10
    val_percent: int = 10
    eval_batches: int = 8
    eval_batch_size: int = 16
    root: Path | None = None
    corpus: Path = CORPUS_DIR

    def __post_init__(self) -> None:
        if self.seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {self.seq_len}")
        if not 0 < self.val_percent < 100:
            raise ValueError(f"val_percent must be in 1..99, got {self.val_percent}")
        caps = (self.max_train_bytes, self.max_val_bytes, self.val_percent)
        if self.root is None:
            streams, self.files, self.python_version = load_corpus(self.corpus, *caps)
        else:
            streams, self.files = read_tree(Path(self.root), *caps)
            self.python_version = platform.python_version()
        self.train = _tensor(streams["train"])
        self.val = _tensor(streams["val"])
        self._check_lengths("raise max_*_bytes or lower seq_len")


def _tensor(data: bytes) -> torch.Tensor:
    if not data:
        return torch.zeros(0, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def encode(text: str) -> torch.Tensor:
    """UTF-8 bytes as int64 tokens ``(T,)``."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(tokens: torch.Tensor | list[int]) -> str:
    """Tokens back to text; invalid UTF-8 (a cut multi-byte char) becomes U+FFFD."""
    return bytes(int(t) for t in tokens).decode("utf-8", errors="replace")
