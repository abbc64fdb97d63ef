"""The committed artifacts are exactly what the sources compile to."""

from __future__ import annotations

from magnet_market.chain import compile as compile_mod
from magnet_market.chain.artifacts import load_artifact


def test_committed_artifacts_match_the_sources():
    assert compile_mod.drift() == []


def test_recompiling_reproduces_the_committed_bytecode():
    fresh = compile_mod.compile_contracts()
    for name, artifact in fresh.items():
        committed = load_artifact(name)
        assert artifact.bytecode == committed.bytecode, f"{name}: run `make compile`"
        assert artifact.abi == committed.abi
    assert fresh["MagnetMarket"].compiler.startswith("0.8.37")


def test_drift_names_the_changed_source(tmp_path, monkeypatch):
    directory = tmp_path / "artifacts"
    compile_mod.write_artifacts({"MagnetMarket": load_artifact("MagnetMarket")}, directory)
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "MagnetMarket.sol").write_text("// changed\n")
    monkeypatch.setattr(compile_mod, "CONTRACTS_DIR", contracts)
    monkeypatch.setattr(compile_mod, "PROJECT_ROOT", tmp_path)
    reasons = compile_mod.drift(directory)
    assert any("MagnetMarket: sources changed" in r and "MagnetMarket.sol" in r for r in reasons)
    assert any("ReentrantReceiver: artifact missing" in r for r in reasons)
