"""The ``tinylm`` task: a byte-level language model on the Python standard library's sources.

The data needs no download: it is the ``.py`` files of the running interpreter's standard
library (``sysconfig.get_path("stdlib")``). Files are split into train and validation by a hash
of their relative path, so the split is deterministic and a file never straddles it. Note: the
bytes depend on the Python version; a task spec should pin it (``python_version`` below).

Metric: validation loss (nats per byte) and bits per byte (loss / ln 2).
"""

from __future__ import annotations

import hashlib
import math
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

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


@dataclass
class TinyLMData(ByteStreams):
    """Byte streams for training and validation.

    Args:
        seq_len: tokens per example.
        max_train_bytes: cap on training bytes (files taken in sorted order), keeps loads fast.
        max_val_bytes: cap on validation bytes.
        val_percent: share of files (by hash) held out for validation.
        eval_batches: batches in :meth:`evaluate`, at fixed offsets.
        root: stdlib directory; default the running interpreter's.
    """

    seq_len: int = 256
    max_train_bytes: int = 4 << 20
    max_val_bytes: int = 512 << 10
    val_percent: int = 10
    eval_batches: int = 8
    eval_batch_size: int = 16
    root: Path | None = None

    def __post_init__(self) -> None:
        if self.seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {self.seq_len}")
        if not 0 < self.val_percent < 100:
            raise ValueError(f"val_percent must be in 1..99, got {self.val_percent}")
        root = Path(self.root or sysconfig.get_path("stdlib"))
        chunks: dict[str, list[bytes]] = {"train": [], "val": []}
        sizes = {"train": 0, "val": 0}
        caps = {"train": self.max_train_bytes, "val": self.max_val_bytes}
        self.files: dict[str, list[str]] = {"train": [], "val": []}
        for p in stdlib_files(root):
            rel = p.relative_to(root).as_posix()
            split = "val" if is_val_file(rel, self.val_percent) else "train"
            if sizes[split] >= caps[split]:
                if all(sizes[s] >= caps[s] for s in sizes):
                    break
                continue
            data = p.read_bytes() + bytes([SEPARATOR])
            data = data[: caps[split] - sizes[split]]
            chunks[split].append(data)
            sizes[split] += len(data)
            self.files[split].append(rel)
        self.train = torch.frombuffer(bytearray(b"".join(chunks["train"])), dtype=torch.uint8)
        self.val = torch.frombuffer(bytearray(b"".join(chunks["val"])), dtype=torch.uint8)
        self._check_lengths("raise max_*_bytes or lower seq_len")
        self.python_version = platform.python_version()


def encode(text: str) -> torch.Tensor:
    """UTF-8 bytes as int64 tokens ``(T,)``."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(tokens: torch.Tensor | list[int]) -> str:
    """Tokens back to text; invalid UTF-8 (a cut multi-byte char) becomes U+FFFD."""
    return bytes(int(t) for t in tokens).decode("utf-8", errors="replace")
