"""Checkpoints: safetensors only (never pickle), metadata as JSON strings in the header.

A checkpoint is a flat ``{name: tensor}`` map plus string metadata:

* ``format``: ``magnet-bitnet/1``; ``kind``: ``train`` (fp32 latent weights, optionally AdamW
  state under ``optim.``) or ``packed`` (2-bit weights for inference, see ``export.py``);
* ``config``: the model config (JSON, ``model.config_to_dict``);
* ``step``, ``parent_cid`` (may be empty), ``metrics`` (JSON object), ``train`` (JSON, optional).

Files come from strangers (IPFS), so loading checks the header before touching tensors and
raises :class:`CheckpointError` on anything unexpected.

Writing does not use ``safetensors.save``: it emits the metadata map in hash order, which
differs between processes, so equal checkpoints would get different IPFS CIDs. ``_serialize``
writes the same format with sorted keys (byte-identical output); reading uses safetensors.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as st_load

from magnet_market._atomic import write_atomic
from magnet_market.bitnet.errors import CheckpointError
from magnet_market.bitnet.model import ModelConfig, config_from_dict, config_to_dict

FORMAT = "magnet-bitnet/1"
KINDS = ("train", "packed")
MAX_HEADER_BYTES = 16 << 20  # a real header is a few KiB; refuse absurd ones before parsing
_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _serialize(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The safetensors format, deterministically: sorted names, sorted metadata, no gaps."""
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise ValueError(f"tensor {name}: dtype {t.dtype} cannot be stored; cast it first")
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # tensor data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


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
        clash = set(meta) & set(self.extra)
        if clash:
            raise ValueError(f"extra metadata keys {sorted(clash)} are reserved")
        return {**meta, **self.extra}

    def to_bytes(self) -> bytes:
        """The safetensors file content (deterministic for equal tensors and metadata)."""
        return _serialize(self.tensors, self.metadata())

    def save(self, path: str | Path) -> Path:
        """Write atomically to ``path``; returns it."""
        path = Path(path)
        write_atomic(path, self.to_bytes())
        return path


def read_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors blob, checked to be a MAGNET checkpoint."""
    if len(data) < 8:
        raise CheckpointError("not a safetensors file: shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise CheckpointError(
            f"safetensors header length {n} is invalid for a {len(data)}-byte file"
        )
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"safetensors header is not JSON: {exc}") from exc
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"not a {FORMAT} checkpoint (missing or wrong 'format' metadata)")
    if not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError("checkpoint metadata values must be strings")
    return meta


def from_bytes(data: bytes) -> Checkpoint:
    """Parse and validate a checkpoint blob (no code is ever executed: safetensors only)."""
    meta = read_metadata(data)
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
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"bad safetensors payload: {exc}") from exc
    reserved = {"format", "kind", "config", "step", "parent_cid", "metrics"}
    extra = {k: v for k, v in meta.items() if k not in reserved}
    return Checkpoint(
        tensors=tensors,
        config=config,
        kind=kind,
        step=step,
        parent_cid=meta.get("parent_cid", ""),
        metrics=metrics,
        extra=extra,
    )


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
        config=model.config,
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
