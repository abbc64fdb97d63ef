"""Shared fixtures of the task tests."""

from __future__ import annotations

from tests._threads import one_torch_thread  # noqa: F401 (autouse for this folder)
