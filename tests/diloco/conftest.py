"""Shared fixtures of the DiLoCo tests."""

from __future__ import annotations

import pytest
import torch

from tests._threads import one_torch_thread  # noqa: F401 (autouse for this folder)


@pytest.fixture
def write_ckpt(tmp_path):
    """Save ``{name: values}`` as a tiny ``train`` checkpoint file; returns its path."""
    from magnet_market.bitnet.checkpoint import Checkpoint
    from magnet_market.bitnet.model import ClassifierConfig

    def write(name: str, tensors: dict, **kw):
        t = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in tensors.items()}
        cfg = kw.pop("config", ClassifierConfig(hidden=4))
        return Checkpoint(tensors=t, config=cfg, **kw).save(tmp_path / f"{name}.safetensors")

    return write
