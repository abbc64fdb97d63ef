"""A TestClient that talks to the dashboard as a browser on loopback does."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

__all__ = ["TestClient", "local_client"]


def local_client(app: FastAPI, **options: Any) -> TestClient:
    """A TestClient whose requests carry ``Host: 127.0.0.1``, as a browser on loopback does."""
    return TestClient(app, base_url="http://127.0.0.1", **options)
