"""Data-parallel inner training for a contributor with several machines (gloo on CPU).

Each rank holds the same model, computes gradients on its slice of the global batch, and the
gradients are averaged with ``all_reduce`` as they become ready (a post-accumulate-grad hook per
parameter), so ``bitnet.train`` runs unchanged and every rank takes the same AdamW step.

:class:`ShardedData` makes the run reproduce a single process with the global batch: every rank
draws the same global batch from the step's generator and keeps its own rows. The mean of the
ranks' mean gradients is the mean gradient of the global batch, so two ranks with batch 8 follow
one process with batch 16 up to float rounding (tested). Launch with ``torchrun``
(see ``ddp_worker.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from magnet_market.bitnet.train import TaskData


@dataclass
class ShardedData:
    """Rank ``rank`` of ``world``'s share of each batch of ``data`` (evaluation unchanged)."""

    data: TaskData
    rank: int
    world: int

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank must be in 0..{self.world - 1}, got {self.rank}")

    def get_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's ``batch_size`` rows of the global batch of ``batch_size * world``."""
        x, y = self.data.get_batch(split, batch_size * self.world, generator)
        rows = slice(self.rank * batch_size, (self.rank + 1) * batch_size)
        return x[rows], y[rows]

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.data.evaluate(model)


def broadcast_parameters(model: nn.Module, src: int = 0) -> None:
    """Give every rank rank ``src``'s weights (they must start equal for the steps to agree)."""
    for t in model.state_dict().values():
        dist.broadcast(t, src)


def average_gradients(model: nn.Module) -> list[torch.utils.hooks.RemovableHandle]:
    """Hook every parameter so its gradient is averaged over ranks once backward has it.

    Returns the hook handles (``handle.remove()`` detaches them). Gloo has no AVG reduction on
    CPU, hence SUM then divide. Ranks must run the same graph: hooks fire in the same order,
    which is what keeps the collectives matched.
    """
    world = dist.get_world_size()

    def hook(p: torch.Tensor) -> None:
        grad = p.grad
        if grad is None:  # torch runs this hook only once the gradient is accumulated
            raise RuntimeError("post-accumulate-grad hook ran on a parameter without .grad")
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        grad.div_(world)

    return [
        p.register_post_accumulate_grad_hook(hook) for p in model.parameters() if p.requires_grad
    ]
