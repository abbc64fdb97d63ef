"""Shared fixtures of the autoresearch tests: a tiny search space and budget on ``digits``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from magnet_market.autoresearch import Budget, SearchSpace, Settings
from tests._threads import one_torch_thread  # noqa: F401 (autouse for this folder)

TINY_BUDGET = Budget(steps=40)  # ~0.1 s of digits training per experiment


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds: the test waits on the event it means, not a guess at
    how long it takes, and fails naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:g} s")
        time.sleep(0.05)


@pytest.fixture
def tiny_space() -> SearchSpace:
    """Two phases over a wide lr range (so tests can ask for a diverging lr) and the width."""
    return SearchSpace.parse(
        {
            "knobs": {
                "optim.lr": {"kind": "float", "low": 1e-5, "high": 1e5, "log": True},
                "model.hidden": {"kind": "choice", "choices": [32, 64, 128]},
            },
            "phases": [
                {"name": "lr", "knobs": ["optim.lr"]},
                {"name": "width", "knobs": ["model.hidden"]},
            ],
        }
    )


@pytest.fixture
def tiny_settings() -> Settings:
    return Settings("digits", TINY_BUDGET, trials_per_phase=2, timeout=60)


@pytest.fixture
def scripted_proposer(tmp_path: Path):
    """A command proposer replying with the i-th canned reply on its i-th call."""

    def make(replies: list[str]) -> str:
        script = tmp_path / "proposer.py"
        script.write_text(
            "import json, sys\n"
            f"replies = {replies!r}\n"
            "request = json.load(sys.stdin)\n"
            "calls = len(request['history']) - 1  # the baseline is always there\n"
            "print(replies[calls])\n"
        )
        return f"{sys.executable} {script}"

    return make
