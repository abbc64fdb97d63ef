"""eth-brownie as a real front door: `brownie compile` and `brownie run scripts/deploy.py`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from magnet_market.chain.artifacts import load_artifact
from magnet_market.chain.compile import SETTINGS
from magnet_market.chain.connection import Connection

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BROWNIE = Path(sys.executable).with_name("brownie")


def _without_metadata(bytecode: str, immutables: list[list[int]] = ()) -> bytes:
    """Runtime code without solc's trailing CBOR metadata (its length is in the last 2 bytes),
    with the ``[start, length]`` ranges a deployment fills with immutables zeroed."""
    code = bytearray(bytes.fromhex(bytecode.removeprefix("0x")))
    for start, length in immutables:
        code[start : start + length] = bytes(length)
    return bytes(code[: -(int.from_bytes(code[-2:], "big") + 2)])


def test_brownie_config_mirrors_the_via_ir_pipeline():
    """brownie records no viaIR in its build output: read it from brownie-config.yaml. Without
    it brownie compiles the legacy pipeline, whose code differs (and exceeds EIP-170's limit)."""
    config = (PROJECT_ROOT / "brownie-config.yaml").read_text()
    found = re.search(r"^\s+viaIR:\s*(true|false)\s*$", config, re.MULTILINE | re.IGNORECASE)
    via_ir = found is not None and found.group(1).lower() == "true"
    assert via_ir == SETTINGS.get("viaIR", False), (
        "brownie-config.yaml's compiler.solc.viaIR must match magnet_market/chain/compile.py"
    )


def test_brownie_compiles_and_deploys_with_our_routine(tmp_path, devnet_network):
    project = tmp_path / "project"
    project.mkdir()
    for item in ("contracts", "scripts"):
        shutil.copytree(PROJECT_ROOT / item, project / item)
    shutil.copy(PROJECT_ROOT / "brownie-config.yaml", project)
    (project / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    # A private HOME: brownie's network config and py-solc-x's compiler folder live there.
    env = dict(os.environ, HOME=str(tmp_path / "home"), MAGNET_DEVNET_URL=devnet_network.rpc_url)
    env.pop("SOLCX_BINARY_PATH", None)

    def run(*args: str) -> str:
        proc = subprocess.run(
            args, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    run(sys.executable, "-m", "magnet_market.chain.brownie_setup")
    assert (tmp_path / "home/.solcx/solc-v0.8.37").is_file()
    run(str(BROWNIE), "compile")
    built = json.loads((project / "build/contracts/MagnetMarket.json").read_text())
    assert built["compiler"]["evm_version"] == SETTINGS["evmVersion"]
    assert built["compiler"]["optimizer"] == SETTINGS["optimizer"]
    committed = load_artifact("MagnetMarket")
    assert built["compiler"]["version"] == committed.compiler.split(".Emscripten")[0]
    assert _without_metadata(built["deployedBytecode"]) == _without_metadata(
        committed.deployed_bytecode
    )
    out = run(str(BROWNIE), "run", "scripts/deploy.py", "--network", "devnet")
    record = json.loads(out.strip().splitlines()[-1])
    assert record["artifact_digest"] == committed.digest
    code = Connection(devnet_network).w3.eth.get_code(record["address"])
    immutables = committed.immutable_ranges
    assert immutables  # the floors live in the runtime code
    assert _without_metadata(code.hex(), immutables) == _without_metadata(
        committed.deployed_bytecode, immutables
    )
    direct = run(sys.executable, "scripts/deploy.py", "--network", "devnet")
    assert json.loads(direct)["address"] != record["address"]
