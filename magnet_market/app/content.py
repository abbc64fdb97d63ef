"""What every role reads about a task's content: its spec, its dataset and each round's parent
checkpoint."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from magnet_market.app.datasets import fetch_dataset
from magnet_market.bitnet import checkpoint
from magnet_market.bitnet.checkpoint import Checkpoint
from magnet_market.bitnet.export import export_packed, load_model
from magnet_market.chain.client import MarketClient
from magnet_market.chain.events import EventReader
from magnet_market.chain.types import RoundPhase
from magnet_market.errors import MagnetError
from magnet_market.storage import ContentStore
from magnet_market.tasks.spec import TaskSpec, spec_from_bytes


class TaskContentError(MagnetError, LookupError):
    """A task's content cannot be found: no base checkpoint, or the parent round not posted."""


def fetch_spec(market: MarketClient, store: ContentStore, task_id: int) -> TaskSpec:
    """The task's spec, fetched by the CID on chain and verified against it."""
    return spec_from_bytes(store.get(market.task(task_id).spec_cid))


def task_dataset(store: ContentStore, spec: TaskSpec) -> Path | None:
    """The verified folder of the spec's dataset (fetched once, then cached), or ``None`` for a
    task on built-in data."""
    return fetch_dataset(store, spec.dataset).folder if spec.dataset else None


def parent_cid(events: EventReader, spec: TaskSpec, task_id: int, round_: int) -> str:
    """Round 0 trains on the base checkpoint; round r on round r-1's merged checkpoint."""
    if round_ == 0:
        if not spec.base_cid:
            raise TaskContentError(f"task {task_id}'s spec names no base checkpoint")
        return spec.base_cid
    posted = events.get("RoundPosted", taskId=task_id, round=round_ - 1)
    if not posted:
        raise TaskContentError(f"round {round_ - 1} of task {task_id} has not been posted")
    return str(posted[-1]["args"]["mergedCID"])


@dataclass(frozen=True)
class TaskModel:
    """The newest model a task produced: the merged checkpoint of its last posted round."""

    task_id: int
    round: int
    cid: str
    final: bool  # True once that round can no longer be challenged
    rounds: int  # the task's rounds: round == rounds - 1 is the task's last word


def latest_model(market: MarketClient, events: EventReader, task_id: int) -> TaskModel:
    """The merged checkpoint of the task's last posted round (``magnet task model``)."""
    posted = events.get("RoundPosted", taskId=task_id)
    if not posted:
        raise TaskContentError(f"task {task_id} has posted no round yet: no model to fetch")
    last = max(posted, key=lambda e: e["args"]["round"])
    round_ = int(last["args"]["round"])
    final = market.round(task_id, round_).phase in (RoundPhase.FINAL, RoundPhase.VOIDED)
    rounds = market.task(task_id).rounds
    return TaskModel(task_id, round_, str(last["args"]["mergedCID"]), final, rounds)


def save_model(
    store: ContentStore, model: TaskModel, out: Path, packed: bool = False
) -> Checkpoint:
    """Fetch ``model`` (checked against its CID while it streams) to ``out``, or its packed
    2-bit inference export when ``packed``; returns the checkpoint written. Nothing is left at
    ``out`` unless the whole file checked out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fetched = store.get_to_path(model.cid, Path(tmp) / "model.safetensors")
        ckpt = checkpoint.load(fetched)  # safetensors only: a MAGNET checkpoint, or an error
        if not packed:
            fetched.replace(out)
            return ckpt
    export = export_packed(
        load_model(ckpt), step=ckpt.step, parent_cid=model.cid, metrics=ckpt.metrics
    )
    export.save(out)
    return export
