"""What every role reads about a task's content: its spec, its dataset and each round's parent
checkpoint."""

from __future__ import annotations

from pathlib import Path

from magnet_market.app.datasets import fetch_dataset
from magnet_market.chain.client import MarketClient
from magnet_market.chain.events import EventReader
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
