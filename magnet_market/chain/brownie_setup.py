"""Make eth-brownie work offline with this project: a ``solc`` for py-solc-x, and networks.

py-solc-x wants a native ``solc-vX.Y.Z`` binary, which no registry here ships; we install a
two-line script that runs our solc-js shim (same compiler as ``magnet_market.chain.compile``)
where py-solc-x looks (``$SOLCX_BINARY_PATH`` or ``~/.solcx``). Brownie's networks live in
``~/.brownie/network-config.yaml``; we register ``devnet`` (anvil) and, when
``MAGNET_CHAIN_ID`` is set, ``hooti-testnet`` (host ``$MAGNET_RPC_URL``, expanded by brownie).

    python -m magnet_market.chain.brownie_setup
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from magnet_market._atomic import write_atomic
from magnet_market.chain.compile import SHIM, compiler_version
from magnet_market.chain.errors import ChainError
from magnet_market.config import DEVNET_CHAIN_ID, DEVNET_DEFAULT_URL


def solcx_folder() -> Path:
    """Where py-solc-x looks for compilers."""
    return Path(os.environ.get("SOLCX_BINARY_PATH", Path.home() / ".solcx"))


def install_solc_shim(folder: Path | None = None) -> Path:
    """Write ``solc-v<version>`` running the solc-js shim; returns its path."""
    version = compiler_version().split("+", 1)[0]
    node = shutil.which("node") or "node"
    target = (folder or solcx_folder()) / f"solc-v{version}"
    write_atomic(target, f'#!/bin/sh\nexec "{node}" "{SHIM}" "$@"\n', mode=0o755)
    return target


def register_networks() -> list[str]:
    """Add (or update) brownie's ``devnet`` and ``hooti-testnet`` networks; returns their ids."""
    brownie = Path(sys.executable).with_name("brownie")
    if not brownie.is_file():
        raise ChainError("eth-brownie is not installed in this environment (pip extra `brownie`)")
    wanted = {
        "devnet": (
            "Ethereum",
            os.environ.get("MAGNET_DEVNET_URL", DEVNET_DEFAULT_URL),
            str(DEVNET_CHAIN_ID),
        )
    }
    if os.environ.get("MAGNET_CHAIN_ID"):
        wanted["hooti-testnet"] = ("HOOTi", "$MAGNET_RPC_URL", os.environ["MAGNET_CHAIN_ID"])
    for network_id, (group, host, chain_id) in wanted.items():
        # `delete` fails harmlessly when the network is new; `add` then writes it fresh.
        subprocess.run(
            [str(brownie), "networks", "delete", network_id], capture_output=True, check=False
        )
        add = ["networks", "add", group, network_id, f"host={host}", f"chainid={chain_id}"]
        subprocess.run(
            [str(brownie), *add],
            capture_output=True,
            check=True,
            timeout=120,
        )
    return list(wanted)


def main() -> int:
    """Install the solc shim and register the networks."""
    print(f"solc shim: {install_solc_shim()}")
    print(f"brownie networks: {', '.join(register_networks())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
