"""Run the `magnet` command as its own process, as a user's shell would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_magnet(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """``magnet ARGS`` from the repository root with ``env``; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "magnet_market.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def start_magnet(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """``magnet ARGS`` started in the background (a role), its output piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "magnet_market.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
