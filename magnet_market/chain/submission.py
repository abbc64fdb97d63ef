"""Commit then reveal a checkpoint CID, safely across crashes.

The salt is written to disk (atomically) *before* the commitment is sent, so a contributor
killed between commit and reveal can run the same command again and reveal; a second run after
a successful reveal does nothing. Salts live in ``$MAGNET_HOME/salts``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from magnet_market._atomic import write_atomic
from magnet_market.chain.client import MarketClient, commitment_for
from magnet_market.chain.errors import ChainError
from magnet_market.chain.types import METRIC_SCALE, RoundPhase
from magnet_market.config import magnet_home


class SubmissionError(ChainError, RuntimeError):
    """The submission cannot proceed (deadline missed, a different CID already committed)."""


def scale_metric(value: float | str | Decimal) -> int:
    """A metric as the 1e18-scaled integer the contract stores (exact for decimal strings)."""
    return int((Decimal(str(value)) * METRIC_SCALE).to_integral_value())


@dataclass(frozen=True)
class Submitted:
    """What happened: the round, and whether this run sent the commit and/or the reveal."""

    task_id: int
    round: int
    cid: str
    claimed_metric: int
    committed_now: bool
    revealed_now: bool


def submit_checkpoint(
    client: MarketClient,
    task_id: int,
    cid: str,
    claimed_metric: int,
    reveal_timeout: float = 3600.0,
    poll: float = 2.0,
    on_wait: Callable[[RoundPhase], None] | None = None,
) -> Submitted:
    """Commit to ``cid`` in the task's current round, wait for reveals to open, then reveal.

    Args:
        client: a market client with a signer (the contributor).
        task_id: the task.
        cid: the checkpoint's CID.
        claimed_metric: the contributor's claimed validation metric, 1e18-scaled.
        reveal_timeout: seconds to wait for the reveal phase.
        poll: seconds between phase checks.
        on_wait: called with the current phase while waiting (for progress display).
    """
    if client.signer is None:
        raise SubmissionError("submitting needs a signing account")
    sender = client.signer.address
    round_ = client.task(task_id).current_round
    path = _salt_path(client, task_id, round_, sender)
    on_chain = client.submission(task_id, round_, sender)
    saved = json.loads(path.read_text()) if path.is_file() else None
    committed_now = False
    if on_chain["commitment"] == bytes(32):
        salt = os.urandom(32)
        write_atomic(
            path,
            json.dumps({"cid": cid, "metric": claimed_metric, "salt": salt.hex()}),
            mode=0o600,
        )
        client.commit(task_id, commitment_for(task_id, round_, sender, cid, claimed_metric, salt))
        committed_now = True
    else:
        if saved is None:
            raise SubmissionError(
                f"already committed in round {round_} of task {task_id}, but its salt file "
                f"{path} is gone: this round's reveal is lost"
            )
        if (saved["cid"], saved["metric"]) != (cid, claimed_metric):
            raise SubmissionError(
                f"round {round_} already has a commitment to {saved['cid']} "
                f"(metric {saved['metric']}); one submission per round"
            )
        salt = bytes.fromhex(saved["salt"])
    if on_chain["revealed"]:
        return Submitted(task_id, round_, cid, claimed_metric, committed_now, False)
    _wait_for_reveals(client, task_id, round_, reveal_timeout, poll, on_wait)
    client.reveal(task_id, cid, claimed_metric, salt)
    return Submitted(task_id, round_, cid, claimed_metric, committed_now, True)


def _wait_for_reveals(
    client: MarketClient,
    task_id: int,
    round_: int,
    timeout: float,
    poll: float,
    on_wait: Callable[[RoundPhase], None] | None,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        phase = client.round(task_id, round_).phase
        if phase is RoundPhase.REVEALING:
            return
        if phase is not RoundPhase.SUBMITTING:
            raise SubmissionError(
                f"round {round_} is {phase.name.lower()}: the reveal window closed"
            )
        if time.monotonic() >= deadline:
            raise SubmissionError(f"reveals of round {round_} did not open within {timeout:.0f}s")
        if on_wait is not None:
            on_wait(phase)
        time.sleep(poll)


def _salt_path(client: MarketClient, task_id: int, round_: int, sender: str) -> Path:
    chain_id = client.connection.chain_id
    name = f"{chain_id}-{client.address}-{task_id}-{round_}-{sender}.json"
    return magnet_home() / "salts" / name
