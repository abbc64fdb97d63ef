"""Shared fixtures of the DiLoCo tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and a busy CI core cannot stall an OpenMP barrier."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
