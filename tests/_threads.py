"""One torch thread for tests that train tiny models in the test process.

A conftest that imports :func:`one_torch_thread` makes it autouse for its folder: tiny models run
fastest on one thread, and a busy CI core cannot stall an OpenMP barrier.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run the test with one torch thread, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
