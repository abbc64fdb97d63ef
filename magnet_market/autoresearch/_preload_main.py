"""Imported in the experiment forkserver: the parent's main module, once, so that forked
experiments skip re-running it.

``set_forkserver_preload(["__main__"])`` does nothing before CPython 3.13 (gh-126631: the
forkserver looks for a ``main_path`` that the parent never sends), so every child re-ran the
parent's main module; for the ``magnet`` command that is the whole CLI's imports, about 1.3
CPU-seconds per experiment run against 0.2 for a digits run itself. The parent puts the part of
its preparation data that names its main module in ``runner.MAIN_ENV``; this prepares the
forkserver with it as each child would be prepared, and a child whose ``__main__`` already is
that module skips it.
"""

from __future__ import annotations

import json
import os
from multiprocessing import spawn

from magnet_market.autoresearch.runner import MAIN_ENV

# `prepare` is what a forkserver child runs on the same data (CPython's own fix calls it too)
spawn.prepare(json.loads(os.environ.get(MAIN_ENV, "{}")))
