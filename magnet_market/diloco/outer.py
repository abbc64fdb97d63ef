"""The DiLoCo outer step, streamed tensor by tensor from safetensors files.

Paper: Douillard et al., "DiLoCo: Distributed Low-Communication Training of Language Models"
(arXiv:2311.08105); streaming by fragments: "Streaming DiLoCo" (arXiv:2501.18512); reference
code: PrimeIntellect-ai/OpenDiloco ``open_diloco/train_fsdp.py``, PrimeIntellect-ai/prime
``src/zeroband/diloco.py``, meta-pytorch/torchft ``torchft/local_sgd.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from magnet_market.bitnet.checkpoint import FORMAT, Checkpoint
from magnet_market.bitnet.exact import square_sum
from magnet_market.bitnet.model import config_from_dict
from magnet_market.bitnet.safetensors_io import HeaderError, TensorSpec
from magnet_market.diloco._reader import MODEL_PREFIX, TensorFile
from magnet_market.diloco._writer import streaming_writer
from magnet_market.diloco.aggregate import AggregationConfig, aggregate, clip_scales
from magnet_market.diloco.errors import MergeInputError, NonFiniteMergeError

MOMENTUM_PREFIX = "outer_momentum."  # + the model tensor name; sorts after every "model." entry
CHUNK = 1 << 18  # coordinates aggregated at once: caps sort buffers at ~K x 2 MiB per tensor


@dataclass(frozen=True)
class OuterConfig:
    """The outer optimizer: SGD with (Nesterov) momentum on the averaged pseudo-gradient."""

    lr: float = 0.7  # DiLoCo's outer learning rate
    momentum: float = 0.9  # DiLoCo's outer momentum
    nesterov: bool = True

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"outer lr must be > 0 (DiLoCo uses 0.7), got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(
                f"outer momentum must be in [0, 1) (DiLoCo uses 0.9), got {self.momentum}"
            )


@dataclass(frozen=True)
class MergeResult:
    """What one outer step did: the file written and per-contributor norms."""

    path: Path
    pseudo_gradient_norms: list[float]  # before clipping
    clip_scales: list[float]
    update_norm: float  # norm of the aggregated pseudo-gradient


def _open(path: str | Path) -> TensorFile:
    try:
        return TensorFile(path)
    except HeaderError as exc:
        raise MergeInputError(f"{path}: {exc}; verify submissions before merging") from exc


class DilocoMerger:
    """Merge contributors' checkpoints into the next global checkpoint (one DiLoCo outer step).

    Each contributor trained H inner steps (AdamW) from the round's parent weights θ. The
    coordinator then runs, for every model tensor in turn (so memory stays at a few tensors
    whatever the model or the number of contributors)::

        for name in sorted(model tensors):
            g_i = θ[name] - θ_i[name]              # pseudo-gradient of contributor i
            g   = aggregate(s_i * g_i, w_i)        # s_i: norm clip; weighted (trimmed) mean
            m   = μ * m[name] + g                  # outer momentum (zeros in round 1)
            θ'  = θ[name] - lr * (g + μ * m)       # SGD, Nesterov (torch.optim.SGD semantics)
            write θ' and m                         # merged checkpoint carries the momentum

    so the next round starts from the merged file alone. The merged file is written to a
    temporary name and moved into place only if every value is finite: a failed merge leaves
    the last good global checkpoint as it was (torchft's ``should_commit`` gate).

    Args:
        outer: outer optimizer settings (default lr 0.7, momentum 0.9, Nesterov).
        aggregation: how pseudo-gradients are combined (default robust, see ``aggregate.py``).
    """

    def __init__(
        self,
        outer: OuterConfig | None = None,
        aggregation: AggregationConfig | None = None,
    ) -> None:
        self.outer = outer or OuterConfig()
        self.aggregation = aggregation or AggregationConfig()

    def merge(
        self,
        parent: str | Path,
        contributions: Sequence[str | Path],
        out: str | Path,
        *,
        weights: Sequence[float] | None = None,
        parent_cid: str = "",
    ) -> MergeResult:
        """Write the merged checkpoint of ``contributions`` (files) onto ``parent`` to ``out``.

        Args:
            parent: the round's parent checkpoint (may hold outer momentum from the last round).
            contributions: verified contributor checkpoints of the same model.
            out: where the merged checkpoint goes.
            weights: one positive weight per contribution; default equal.
            parent_cid: CID of ``parent``, recorded as the merged checkpoint's parent.
        """
        if not contributions:
            raise MergeInputError("nothing to merge: pass at least one contribution")
        weights = [1.0] * len(contributions) if weights is None else list(weights)
        if len(weights) != len(contributions) or not all(w > 0 for w in weights):
            raise MergeInputError(
                f"need one positive weight per contribution ({len(contributions)}), got {weights}; "
                "drop zero-weight contributions before merging"
            )
        w = torch.tensor(weights, dtype=torch.float64)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            p = stack.enter_context(_open(parent))
            subs = [stack.enter_context(_open(c)) for c in contributions]
            specs = _check_inputs(p, subs, contributions)
            names = sorted(specs)
            norms = _pseudo_gradient_norms(p, subs, names)
            scales = clip_scales(norms, self.aggregation.clip_multiple)
            moms = {n: MOMENTUM_PREFIX + n[len(MODEL_PREFIX) :] for n in names}
            mom_specs = [TensorSpec(moms[n], specs[n].dtype, specs[n].shape) for n in names]
            meta = self._metadata(p.metadata, parent_cid, len(subs))
            # momentum entries sort after every weight, so they wait in a spill file meanwhile
            spill_path = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=out.parent)))
            spill_path /= "momentum.safetensors"
            update_sq = 0.0
            with streaming_writer(out, [specs[n] for n in names] + mom_specs, meta) as writer:
                with streaming_writer(spill_path, mom_specs, {}) as spill:
                    for name in names:
                        theta, mom, g = self._step(p, subs, name, scales, w)
                        update_sq += square_sum(g)
                        writer.write(name, theta)
                        spill.write(moms[name], mom)
                with TensorFile(spill_path) as spilled:
                    for name in names:
                        writer.write(moms[name], spilled.get(moms[name]))
        return MergeResult(out, norms, scales, math.sqrt(update_sq))

    def _step(
        self,
        parent: TensorFile,
        subs: list[TensorFile],
        name: str,
        scales: list[float],
        weights: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """New weights, new momentum and the aggregated pseudo-gradient of one tensor."""
        theta = parent.get(name)
        flat = theta.view(-1)
        locals_ = [s.get(name).view(-1) for s in subs]
        g = torch.empty_like(flat)
        for lo in range(0, flat.numel(), CHUNK):  # aggregation is coordinate-wise: chunks are exact
            hi = lo + CHUNK
            stack = torch.stack(
                [(flat[lo:hi] - t[lo:hi]) * c for t, c in zip(locals_, scales, strict=True)]
            )  # (K, chunk)
            g[lo:hi] = aggregate(stack, weights, self.aggregation)
        del locals_
        g = g.view_as(theta)
        mom_name = MOMENTUM_PREFIX + name[len(MODEL_PREFIX) :]
        prev = parent.get(mom_name) if mom_name in parent.specs else torch.zeros_like(theta)
        mu = self.outer.momentum
        mom = mu * prev + g  # torch.optim.SGD: buf = mu * buf + g (first step: buf = g)
        direction = g + mu * mom if self.outer.nesterov else mom
        new = theta - self.outer.lr * direction
        if not (torch.isfinite(new).all() and torch.isfinite(mom).all()):
            raise NonFiniteMergeError(
                f"merged tensor {name} is not finite; the merge is discarded and the parent "
                "stays the global checkpoint (check the verification norm bound)"
            )
        return new, mom, g

    def _metadata(
        self, parent_meta: dict[str, str] | None, parent_cid: str, n: int
    ) -> dict[str, str]:
        """Metadata of the merged file: the parent's model config, outer step count, settings."""
        if not parent_meta or parent_meta.get("format") != FORMAT:
            raise MergeInputError(f"the parent is not a {FORMAT} checkpoint")
        settings = {
            "outer": asdict(self.outer),
            "aggregation": asdict(self.aggregation),
            "contributions": n,
        }
        return Checkpoint(
            tensors={},
            config=config_from_dict(json.loads(parent_meta["config"])),
            step=int(parent_meta.get("step", "0")) + 1,  # outer steps taken
            parent_cid=parent_cid,
            extra={"diloco": json.dumps(settings, sort_keys=True)},
        ).metadata()


def _check_inputs(
    parent: TensorFile, subs: list[TensorFile], paths: Sequence[str | Path]
) -> dict[str, TensorSpec]:
    """The parent's model tensor specs, after checking every contribution has exactly them."""
    specs = parent.model_specs()
    if not specs:
        raise MergeInputError("the parent has no 'model.' tensors")
    for name, dtype, _ in specs.values():
        if not dtype.is_floating_point:
            raise MergeInputError(f"tensor {name} is {dtype}; only float tensors can be merged")
    for sub, path in zip(subs, paths, strict=True):
        theirs = sub.model_specs()
        if theirs != specs:
            diff = sorted(set(theirs.items()) ^ set(specs.items()))[:3]
            raise MergeInputError(
                f"{path} does not match the parent's model tensors (first differences {diff}); "
                "verify submissions before merging"
            )
    return specs


def _pseudo_gradient_norms(
    parent: TensorFile, subs: list[TensorFile], names: list[str]
) -> list[float]:
    """L2 norm of each contributor's whole pseudo-gradient (one tensor in memory at a time)."""
    sq = [0.0] * len(subs)
    for name in names:
        theta = parent.get(name)
        for i, s in enumerate(subs):
            sq[i] += square_sum(theta - s.get(name))
    return [math.sqrt(x) for x in sq]
