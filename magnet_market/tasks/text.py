"""The ``text`` task: a byte-level language model on a sponsor's text, by dataset CID.

The dataset's pieces (``datasets/``: each document cut into pieces, each piece in one split) are
joined back in document order into one byte stream per split, documents apart by a NUL byte as
in ``tinylm``. The same bytes on every machine and every Python: they come from the dataset's
verified shards, not from the interpreter. Metric: validation loss (nats per byte).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from magnet_market.datasets import DatasetError
from magnet_market.datasets.local import LocalDataset
from magnet_market.tasks.rows import JudgedSplit, checked_split
from magnet_market.tasks.tinylm import SEPARATOR, ByteStreams


@dataclass
class TextData(ByteStreams):
    """Train and validation byte streams of a packed text dataset.

    Args:
        dataset_dir: a verified dataset folder (``LocalDataset``).
        seq_len: tokens per example (the model's context).
        eval_batches, eval_batch_size: the fixed windows :meth:`evaluate` scores.
        judged_split: the split ``evaluate`` scores (``val``, or ``holdout`` for a sponsor's
            figures on text nobody searched on).
    """

    dataset_dir: str | Path
    seq_len: int = 256
    judged_split: JudgedSplit = "val"
    eval_batches: int = 8
    eval_batch_size: int = 16
    dataset: LocalDataset = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {self.seq_len}")
        self.dataset = LocalDataset.open(self.dataset_dir)
        if self.dataset.manifest.kind != "text":
            raise DatasetError(
                f"dataset in {self.dataset_dir} is {self.dataset.manifest.kind}, not text"
            )
        self.train = self._stream("train")
        self.val = self._stream(checked_split(self.judged_split))
        self._check_lengths("pack more text or lower model.seq_len")

    def _stream(self, split: str) -> torch.Tensor:
        table = self.dataset.read(split).sort_by([("document", "ascending"), ("part", "ascending")])
        chunks: list[bytes] = []
        last = None
        for document, text in zip(
            table.column("document").to_pylist(), table.column("text").to_pylist(), strict=True
        ):
            if last is not None and document != last:
                chunks.append(bytes([SEPARATOR]))
            chunks.append(text.encode("utf-8"))
            last = document
        data = b"".join(chunks)
        if not data:
            return torch.zeros(0, dtype=torch.uint8)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)
