"""The built-in tasks' data as datasets: the same CID on every machine, pinned in the package."""

from __future__ import annotations

import json
import lzma

import pytest

from magnet_market.app.datasets import fetch_dataset, publish_builtin
from magnet_market.app.holdout_keys import load_keys
from magnet_market.cli import main
from magnet_market.storage import LocalStore
from magnet_market.tasks.builtin_data import BUILTINS, PINNED_CIDS, builtin_source
from magnet_market.tasks.tinylm import CORPUS_DIR, CORPUS_MANIFEST


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_each_builtin_packs_to_its_pinned_cid(name, tmp_path):
    published = publish_builtin(LocalStore(tmp_path / "store"), name)
    assert published.cid == PINNED_CIDS[name]
    local = fetch_dataset(LocalStore(tmp_path / "store"), published.cid, tmp_path / "cache")
    assert local.manifest.rows == published.manifest.rows > 0
    assert published.manifest.source.rows == sum(s.rows for s in published.manifest.splits.values())


@pytest.mark.parametrize("split", ["train", "val"])
def test_the_corpus_folder_is_the_frozen_stream_file_by_file(tmp_path, split):
    """Joined again in the frozen order, the folder's files are the package's stream byte for
    byte: the data comes from the package's copy, not from a standard library on disk."""
    source, options = builtin_source("tinylm", tmp_path)
    assert options.kind == "text"
    names = json.loads((CORPUS_DIR / CORPUS_MANIFEST).read_text())["files"][split]
    stream = lzma.decompress((CORPUS_DIR / f"tinylm-{split}.bin.xz").read_bytes())
    rebuilt = b"\0".join((source / name).read_bytes() for name in names)
    assert stream.rstrip(b"\0") == rebuilt.rstrip(b"\0") and len(names) > 10


def test_the_cli_prints_the_pinned_cid_or_a_sealed_one(runner, tmp_path):
    store = ["--store", str(tmp_path / "store")]
    result = runner.invoke(main, ["dataset", "builtin", "digits", *store])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == PINNED_CIDS["digits"]
    sealed = runner.invoke(main, ["dataset", "builtin", "co2", "--holdout-slices", "3", *store])
    assert sealed.exit_code == 0, sealed.output
    cid = sealed.stdout.strip()
    assert cid != PINNED_CIDS["co2"]  # a sealed holdout is a fresh secret
    manifest = fetch_dataset(LocalStore(tmp_path / "store"), cid, tmp_path / "c").manifest
    assert manifest.slices == 3 and len(load_keys(cid, manifest)) == 3
    unknown = runner.invoke(main, ["dataset", "builtin", "mnist", *store])
    assert unknown.exit_code == 2 and "mnist" in unknown.output
