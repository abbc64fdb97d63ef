"""Compile the contracts with solc-js and keep the committed artifacts in step with the sources.

The compiler is the npm ``solc`` package, driven through ``solc_shim.js`` (the same ``solc``
lookalike brownie uses), so compiling needs Node.js and ``npm ci`` but no compiler download.
Running the package needs neither: artifacts (ABI, bytecode, settings, source hashes) are
committed under ``magnet_market/chain/artifacts/``.

    python -m magnet_market.chain.compile --write   # rebuild artifacts
    python -m magnet_market.chain.compile --check   # exit 1 if they drifted from contracts/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from magnet_market.chain.artifacts import ARTIFACTS_DIR, Artifact
from magnet_market.chain.errors import CompileError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
SHIM = Path(__file__).resolve().with_name("solc_shim.js")

#: Contracts that get an artifact: source file (relative to the project root) → contract name.
TARGETS = {
    "contracts/MagnetMarket.sol": "MagnetMarket",
    "contracts/test/ReentrantReceiver.sol": "ReentrantReceiver",
    "contracts/test/ForceSend.sol": "ForceSend",
}

#: Compiler settings, recorded in every artifact. Paris: deployable on any EVM chain (no PUSH0).
#: The IR pipeline keeps the market under EIP-170's 24,576-byte code limit (the legacy one
#: compiles it to about 28,400 bytes) and frees it from the legacy stack-depth limit.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "viaIR": True,
    "evmVersion": "paris",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.immutableReferences",
            ]
        }
    },
}


def source_files() -> list[Path]:
    """Every Solidity source of the project, sorted, so hashes are stable."""
    return sorted(CONTRACTS_DIR.rglob("*.sol"))


def source_hashes() -> dict[str, str]:
    """sha256 of each project source, keyed by path relative to the project root."""
    return {
        str(p.relative_to(PROJECT_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in source_files()
    }


def compiler_version() -> str:
    """Version string of the solc-js compiler behind the shim."""
    out = _run_shim(["--version"], stdin="")
    return out.strip().splitlines()[-1].removeprefix("Version: ")


def compile_contracts() -> dict[str, Artifact]:
    """Compile every target with the recorded settings and return one artifact per contract."""
    sources = {str(p.relative_to(PROJECT_ROOT)): {"content": p.read_text()} for p in source_files()}
    standard_input = {"language": "Solidity", "sources": sources, "settings": SETTINGS}
    output = json.loads(_run_shim(["--standard-json"], stdin=json.dumps(standard_input)))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    version = compiler_version()
    hashes = source_hashes()
    artifacts = {}
    for source, name in TARGETS.items():
        contract = output["contracts"][source][name]
        artifacts[name] = Artifact(
            contract_name=name,
            source=source,
            abi=contract["abi"],
            bytecode="0x" + contract["evm"]["bytecode"]["object"],
            deployed_bytecode="0x" + contract["evm"]["deployedBytecode"]["object"],
            immutable_ranges=sorted(
                [ref["start"], ref["length"]]
                for refs in contract["evm"]["deployedBytecode"]
                .get("immutableReferences", {})
                .values()
                for ref in refs
            ),
            compiler=version,
            settings=SETTINGS,
            source_hashes=hashes,
        )
    return artifacts


def write_artifacts(artifacts: dict[str, Artifact], directory: Path = ARTIFACTS_DIR) -> None:
    """Write each artifact atomically as ``<ContractName>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts.values():
        artifact.save(directory / f"{artifact.contract_name}.json")


def drift(directory: Path = ARTIFACTS_DIR) -> list[str]:
    """Reasons the committed artifacts no longer match ``contracts/`` (empty when in step)."""
    current = source_hashes()
    reasons = []
    for name in TARGETS.values():
        path = directory / f"{name}.json"
        if not path.exists():
            reasons.append(f"{name}: artifact missing ({path})")
            continue
        recorded = Artifact.load(path)
        if recorded.source_hashes != current:
            changed = sorted(
                set(current.items()).symmetric_difference(recorded.source_hashes.items())
            )
            files = sorted({f for f, _ in changed})
            reasons.append(f"{name}: sources changed since compile: {', '.join(files)}")
        if recorded.settings != SETTINGS:
            reasons.append(f"{name}: compiler settings changed since compile")
    return reasons


def _run_shim(args: list[str], stdin: str) -> str:
    node = shutil.which("node")
    if node is None:
        raise CompileError("Node.js is required to compile the contracts (install `nodejs`)")
    proc = subprocess.run(
        [node, str(SHIM), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise CompileError(f"solc-js failed (is `npm ci` done?): {proc.stderr.strip()}")
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``--write`` rebuilds artifacts, ``--check`` reports drift."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="compile and write the artifacts")
    group.add_argument("--check", action="store_true", help="exit 1 if the artifacts drifted")
    args = parser.parse_args(argv)
    if args.write:
        artifacts = compile_contracts()
        write_artifacts(artifacts)
        for a in artifacts.values():
            print(f"{a.contract_name}: {len(a.deployed_bytecode) // 2 - 1} bytes deployed")
        return 0
    reasons = drift()
    for reason in reasons:
        print(reason, file=sys.stderr)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
