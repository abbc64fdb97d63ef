"""A contributor's AdamW moments, carried from its round of a task to its next one.

DiLoCo's workers keep their inner optimizer's state from round to round; version 1's
contributors started a fresh AdamW every round. ``benchmarks/protocol.py`` measured the
difference from random weights (docs/diloco.md): carrying each contributor's own moments, with
the recipe's schedule restarting every round, ends closer to synchronous training than a fresh
optimizer. The moments stay on the contributor's disk: they are its own (a newcomer, or a
contributor that lost them, starts fresh), so nothing travels and nobody has to trust them.

Each round's moments are kept in that round's work folder, and a round reads the newest
earlier round's: training a round again after a crash reads the same moments as the first
time, so it gives the same checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.checkpoint import Checkpoint
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import ModelConfig

MOMENTS_FILE = "optimizer.safetensors"
OPTIM_PREFIX = "optim."


def round_folder(workdir: Path, task_id: int, round_: int, address: str) -> Path:
    """Where a contributor works on one round of a task."""
    return workdir / f"task{task_id}-round{round_}-{address}"


@dataclass(frozen=True)
class CarriedMoments:
    """The AdamW state a contributor kept at the end of round ``round``."""

    round: int
    tensors: dict[str, torch.Tensor]

    def resume_from(self, parent: Checkpoint) -> Checkpoint:
        """A ``train`` checkpoint at step 0 that ``bitnet.train`` resumes: the parent's weights
        with these moments (the round's schedule starts from its beginning)."""
        weights = {k: v for k, v in parent.tensors.items() if k.startswith("model.")}
        return Checkpoint({**weights, **self.tensors}, parent.config, kind="train")


@dataclass(frozen=True)
class MomentsFound:
    """The newest moments before a round, or why there are none to use."""

    moments: CarriedMoments | None
    refused: str | None = None  # a kept file that could not be read


def latest_moments(workdir: Path, task_id: int, round_: int, address: str) -> MomentsFound:
    """The moments of ``address``'s newest round of the task before ``round_``."""
    for earlier in range(round_ - 1, -1, -1):
        path = round_folder(workdir, task_id, earlier, address) / MOMENTS_FILE
        if not path.is_file():
            continue
        try:
            kept = checkpoint.load(path)
        except (CheckpointError, OSError) as exc:
            return MomentsFound(None, f"the optimizer state kept in {path} is unreadable: {exc}")
        tensors = {k: v for k, v in kept.tensors.items() if k.startswith(OPTIM_PREFIX)}
        return MomentsFound(CarriedMoments(earlier, tensors))
    return MomentsFound(None)


def keep_moments(
    workdir: Path,
    task_id: int,
    round_: int,
    address: str,
    tensors: dict[str, torch.Tensor],
    config: ModelConfig,
) -> Path:
    """Write a round's final AdamW state into its folder (atomically)."""
    path = round_folder(workdir, task_id, round_, address) / MOMENTS_FILE
    return Checkpoint(tensors, config, kind="train", step=round_).save(path)


def forget_moments_before(workdir: Path, task_id: int, round_: int, address: str) -> None:
    """Delete the moments of the rounds before ``round_`` (once ``round_``'s checkpoint is
    saved, no retraining reads them again)."""
    for earlier in range(round_):
        (round_folder(workdir, task_id, earlier, address) / MOMENTS_FILE).unlink(missing_ok=True)
