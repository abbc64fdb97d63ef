"""Checkpoints: safetensors only (never pickle), metadata as JSON strings in the header.

A checkpoint is a flat ``{name: tensor}`` map plus string metadata:

* ``format``: ``magnet-bitnet/1``; ``kind``: ``train`` (fp32 latent weights, optionally AdamW
  state under ``optim.``) or ``packed`` (2-bit weights for inference, see ``export.py``);
* ``config``: the model config (JSON, ``model.config_to_dict``);
* ``step``, ``parent_cid`` (may be empty), ``metrics`` (JSON object), ``train`` (JSON, optional).

Files come from strangers (IPFS), so loading checks the header before touching tensors and
raises :class:`CheckpointError` on anything unexpected. The bytes are laid out by
``safetensors_io`` (deterministically: equal checkpoints, equal bytes, equal IPFS CIDs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from magnet_market._atomic import write_atomic
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import (
    ModelConfig,
    config_from_dict,
    config_to_dict,
    model_config,
)
from magnet_market.bitnet.safetensors_io import (
    decode_header,
    encode_header,
    spec_of,
    tensor_bytes,
    tensor_from_buffer,
)

FORMAT = "magnet-bitnet/1"
KINDS = ("train", "packed")
RESERVED = ("format", "kind", "config", "step", "parent_cid", "metrics")


@dataclass
class Checkpoint:
    """Tensors plus the metadata every MAGNET checkpoint carries."""

    tensors: dict[str, torch.Tensor]
    config: ModelConfig
    kind: str = "train"
    step: int = 0
    parent_cid: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)  # more JSON strings (e.g. ``train``)

    def metadata(self) -> dict[str, str]:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        meta = {
            "format": FORMAT,
            "kind": self.kind,
            "config": json.dumps(config_to_dict(self.config), sort_keys=True),
            "step": str(int(self.step)),
            "parent_cid": self.parent_cid,
            "metrics": json.dumps(self.metrics, sort_keys=True),
        }
        clash = set(RESERVED) & set(self.extra)
        if clash:
            raise ValueError(f"extra metadata keys {sorted(clash)} are reserved")
        return {**meta, **self.extra}

    def to_bytes(self) -> bytes:
        """The safetensors file content (deterministic for equal tensors and metadata)."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.tensors.items()}
        header = encode_header([spec_of(k, v) for k, v in tensors.items()], self.metadata())
        return header + b"".join(tensor_bytes(tensors[k]) for k in sorted(tensors))

    def save(self, path: str | Path) -> Path:
        """Write atomically to ``path``; returns it."""
        path = Path(path)
        write_atomic(path, self.to_bytes())
        return path


def from_metadata(meta: Mapping[str, str]) -> Checkpoint:
    """A checkpoint's fields from its header metadata, checked; no tensors (see ``from_bytes``).

    Lets a reader that streams tensors (the coordinator's verification) check the metadata
    without loading the file.
    """
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"not a {FORMAT} checkpoint (missing or wrong 'format' metadata)")
    try:
        kind = meta["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        config = config_from_dict(json.loads(meta["config"]))
        step = int(meta["step"])
        metrics = json.loads(meta["metrics"])
        if not isinstance(metrics, dict):
            raise ValueError("metrics must be a JSON object")
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"bad checkpoint metadata: {exc}") from exc
    return Checkpoint(
        tensors={},
        config=config,
        kind=kind,
        step=step,
        parent_cid=meta.get("parent_cid", ""),
        metrics=metrics,
        extra={k: v for k, v in meta.items() if k not in RESERVED},
    )


def from_bytes(data: bytes) -> Checkpoint:
    """Parse and validate a checkpoint blob (no code is ever executed: safetensors only)."""
    view = memoryview(data)
    header = decode_header(lambda offset, n: bytes(view[offset : offset + n]), len(view))
    ckpt = from_metadata(header.metadata)
    ckpt.tensors = {
        name: tensor_from_buffer(loc.spec, bytearray(view[loc.start : loc.end]))
        for name, loc in header.tensors.items()
    }
    return ckpt


def load(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint file."""
    return from_bytes(Path(path).read_bytes())


def from_model(
    model: torch.nn.Module,
    *,
    step: int = 0,
    parent_cid: str = "",
    metrics: dict[str, float] | None = None,
    extra: dict[str, str] | None = None,
) -> Checkpoint:
    """A ``train`` checkpoint of ``model``'s weights alone (no optimizer state)."""
    tensors = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    return Checkpoint(
        tensors=tensors,
        config=model_config(model),
        step=step,
        parent_cid=parent_cid,
        metrics=dict(metrics or {}),
        extra=dict(extra or {}),
    )


def model_tensors(ckpt: Checkpoint) -> dict[str, torch.Tensor]:
    """The ``model.`` entries with the prefix stripped (a state dict)."""
    return {k[len("model.") :]: v for k, v in ckpt.tensors.items() if k.startswith("model.")}


def load_into(model: torch.nn.Module, ckpt: Checkpoint) -> None:
    """Copy the checkpoint's model tensors into ``model``; names, shapes, dtypes must match."""
    state = model_tensors(ckpt)
    own = model.state_dict()
    if set(state) != set(own):
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise CheckpointError(
            f"checkpoint does not fit the model: missing {missing}, unexpected {unexpected}"
        )
    for k, v in state.items():
        if v.shape != own[k].shape or v.dtype != own[k].dtype:
            raise CheckpointError(
                f"tensor {k}: checkpoint has {v.dtype} {tuple(v.shape)}, "
                f"model has {own[k].dtype} {tuple(own[k].shape)}"
            )
    model.load_state_dict(state, strict=True)
