"""The domain layer stays out of the adapters (DESIGN.md: dependencies point down only)."""

from __future__ import annotations

import subprocess
import sys


def test_diloco_imports_no_chain_or_storage():
    code = (
        "import sys, magnet_market.diloco, magnet_market.diloco.ddp_worker\n"
        "print([m for m in sys.modules if m.startswith(('magnet_market.chain', "
        "'magnet_market.storage', 'web3'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
