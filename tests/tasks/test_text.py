"""Text tasks: a byte-level LM on a sponsor's text, by dataset CID, from its verified shards."""

from __future__ import annotations

import random

import pytest
import torch

from magnet_market.app.datasets import fetch_dataset, publish_dataset
from magnet_market.bitnet.model import TransformerConfig, build_model
from magnet_market.bitnet.train import OptimConfig, TrainConfig, train
from magnet_market.datasets import DatasetError, PackOptions
from magnet_market.datasets.local import LocalDataset
from magnet_market.storage import LocalStore
from magnet_market.tasks.data import data_options, task_data
from magnet_market.tasks.spec import SpecError, fit_to_dataset, parse_spec
from magnet_market.tasks.text import TextData
from magnet_market.tasks.tinylm import SEPARATOR

SUBJECTS = ["the miner", "a validator", "the sponsor", "each contributor", "the coordinator"]
VERBS = ["stakes", "trains", "verifies", "merges", "claims", "reveals"]
OBJECTS = ["a checkpoint", "the bounty", "its bond", "the round", "a report", "the model"]


def text_corpus(folder, docs: int = 60):
    """A sponsor's folder of text files: simple English, learnable, the same on every run."""
    rng = random.Random(0)
    folder.mkdir(parents=True)
    for d in range(docs):
        lines = [
            f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."
            for _ in range(40)
        ]
        (folder / f"doc{d:03d}.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> LocalDataset:
    tmp = tmp_path_factory.mktemp("text")
    store = LocalStore(tmp / "store")
    options = PackOptions("text", val_fraction=0.2, holdout_fraction=0.1)
    published = publish_dataset(store, text_corpus(tmp / "corpus"), options)
    return fetch_dataset(store, published.cid, tmp / "cache")


def test_the_streams_are_the_splits_documents_in_order(corpus):
    data = TextData(corpus.folder, seq_len=32)
    table = corpus.read("val").sort_by([("document", "ascending"), ("part", "ascending")])
    texts = table.column("text").to_pylist()
    assert bytes(data.val.tolist()) == bytes([SEPARATOR]).join(t.encode() for t in texts)
    rows = {s: corpus.manifest.splits[s].rows for s in ("train", "val")}
    assert data.train.numel() > data.val.numel() > 0 and rows["train"] > rows["val"]


def test_a_transformer_learns_the_text(corpus):
    data = TextData(corpus.folder, seq_len=32, eval_batches=2)
    torch.manual_seed(0)
    model = build_model(TransformerConfig(seq_len=32, d_model=32, n_layers=1, n_heads=2))
    before = data.evaluate(model)["val_loss"]
    train(model, data, TrainConfig(steps=80, batch_size=16, optim=OptimConfig(lr=1e-2)))
    after = data.evaluate(model)["val_loss"]
    assert after < before - 1.0, (before, after)


def test_a_text_spec_names_a_text_dataset(corpus, tmp_path):
    spec = parse_spec(
        {
            "name": "text",
            "kind": "text",
            "dataset": "bafkreiexample",
            "rounds": 1,
            "inner_steps": 10,
            "model": {"seq_len": 32, "d_model": 32, "n_layers": 1, "n_heads": 2},
            "market": {"bounty": 10**18},
        }
    )
    assert fit_to_dataset(spec, corpus.manifest) == spec  # bytes in, bytes out
    assert (spec.metric, spec.lower_is_better) == ("val_loss", True)
    assert data_options(spec, corpus.folder) == {"dataset_dir": str(corpus.folder), "seq_len": 32}
    assert isinstance(task_data(spec, corpus.folder), TextData)
    from tests.tasks.test_tabular import wine_csv

    store = LocalStore(tmp_path / "store")
    table = publish_dataset(
        store, wine_csv(tmp_path / "w.csv"), PackOptions("tabular", label="target")
    )
    with pytest.raises(SpecError, match="is a tabular dataset; a text task needs a text one"):
        fit_to_dataset(spec, table.manifest)
    with pytest.raises(DatasetError, match="is tabular, not text"):
        TextData(fetch_dataset(store, table.cid, tmp_path / "c").folder)


def test_too_little_text_for_the_context_is_refused(corpus):
    with pytest.raises(ValueError, match="bytes for seq_len=100000; pack more text"):
        TextData(corpus.folder, seq_len=100_000)


def test_the_holdout_stream_is_the_holdout_text(corpus):
    held = TextData(corpus.folder, seq_len=32, judged_split="holdout")
    table = corpus.read("holdout").sort_by([("document", "ascending"), ("part", "ascending")])
    texts = table.column("text").to_pylist()
    assert bytes(held.val.tolist()) == bytes([SEPARATOR]).join(t.encode() for t in texts)
