"""A tiny digits round: parent and contributor checkpoints made by real (short) training."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from magnet_market.bitnet.checkpoint import Checkpoint, load, load_into
from magnet_market.bitnet.model import ClassifierConfig, build_model
from magnet_market.bitnet.train import OptimConfig, TrainConfig, train, training_checkpoint
from magnet_market.diloco.verify import Submission
from magnet_market.tasks import DigitsData

CONFIG = ClassifierConfig(hidden=16, n_layers=1)
PARENT_CID = "bafyparent"
INNER_STEPS = 20


def parent_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model(CONFIG)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    return Checkpoint(state, CONFIG, parent_cid="").save(path)


def contribute(
    parent: Path, data: DigitsData, seed: int, path: Path, cid: str = PARENT_CID
) -> Path:
    """What an honest contributor does: load the parent, train H steps, save with its metrics."""
    model = build_model(CONFIG)
    load_into(model, load(parent))
    cfg = TrainConfig(
        steps=INNER_STEPS, batch_size=32, seed=seed, optim=OptimConfig(lr=1e-2, warmup_steps=2)
    )
    res = train(model, data, cfg, parent_cid=cid)
    return training_checkpoint(model, None, res.step, cid, res.metrics, cfg).save(path)


def tamper(src: Path, dst: Path, **changes) -> Path:
    """A copy of ``src`` with fields replaced; ``fn`` (if given) rewrites the tensors."""
    ck = load(src)
    fn = changes.pop("fn", None)
    if fn is not None:
        ck.tensors = fn(dict(ck.tensors))
    for k, v in changes.items():
        setattr(ck, k, v)
    return ck.save(dst)


def with_search(sub: Submission, path: Path, search: dict) -> Submission:
    """``sub`` with ``search`` as its checkpoint's published search metadata (a copy at
    ``path``)."""
    extra = {**load(sub.path).extra, "search": json.dumps(search)}
    return Submission(sub.cid, sub.author, tamper(sub.path, path, extra=extra))
