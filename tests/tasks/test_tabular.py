"""Tabular tasks: a sponsor's table by dataset CID, read from its verified shards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magnet_market.bitnet.model import ClassifierConfig, build_model
from magnet_market.bitnet.train import OptimConfig, TrainConfig, train
from magnet_market.datasets import DatasetError, PackOptions
from magnet_market.datasets.local import LocalDataset
from magnet_market.storage import LocalStore
from magnet_market.tasks.data import data_options, task_data
from magnet_market.tasks.spec import SpecError, fit_to_dataset, parse_spec
from magnet_market.tasks.tabular import TabularData


def wine_csv(path):
    """scikit-learn's bundled wine table (13 features, 3 classes) as a user's CSV."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def wine(tmp_path_factory) -> LocalDataset:
    from magnet_market.app.datasets import fetch_dataset, publish_dataset

    tmp = tmp_path_factory.mktemp("wine")
    store = LocalStore(tmp / "store")
    options = PackOptions("tabular", label="target", val_fraction=0.2, holdout_fraction=0.1)
    published = publish_dataset(store, wine_csv(tmp / "wine.csv"), options)
    return fetch_dataset(store, published.cid, tmp / "cache")


def spec_for(cid: str, **model) -> dict:
    return {
        "name": "wine",
        "kind": "tabular",
        "dataset": cid,
        "rounds": 1,
        "inner_steps": 50,
        "model": model,
        "market": {"bounty": 10**18},
    }


def test_rows_scaled_and_labels_indexed_as_the_manifest_says(wine):
    data = TabularData(wine.folder)
    m = wine.manifest
    assert data.classes == ("barbera", "barolo", "grignolino") == m.classes
    assert data.n_features == 13 and data.features == m.features
    assert data.train_x.shape == (m.splits["train"].rows, 13)
    assert data.val_x.shape[0] == m.splits["val"].rows == data.val_y.shape[0]
    assert float(data.train_x.abs().max()) == 1.0  # each feature by its train maximum
    assert torch.equal(data.train_x.abs().amax(0), torch.ones(13))
    assert set(data.train_y.tolist()) == {0, 1, 2}


def test_a_classifier_learns_the_table(wine):
    data = TabularData(wine.folder)
    torch.manual_seed(0)
    model = build_model(ClassifierConfig(n_features=13, n_classes=3, hidden=32, n_layers=1))
    before = data.evaluate(model)["balanced_accuracy"]
    cfg = TrainConfig(steps=150, batch_size=32, optim=OptimConfig(lr=1e-2, warmup_steps=5))
    train(model, data, cfg)
    after = data.evaluate(model)["balanced_accuracy"]
    assert after > max(before, 0.8), (before, after)


def test_the_spec_names_the_dataset_and_takes_its_shape(wine):
    cid = "bafkreiexample"
    with pytest.raises(SpecError, match="dataset: a tabular task names its data by CID"):
        parse_spec({**spec_for(cid), "dataset": None})
    with pytest.raises(SpecError, match="a digits task uses its built-in data"):
        parse_spec({**spec_for(cid), "kind": "digits"})
    spec = fit_to_dataset(parse_spec(spec_for(cid, hidden=16)), wine.manifest)
    assert (spec.model_config_obj().n_features, spec.model_config_obj().n_classes) == (13, 3)
    assert spec.metric == "balanced_accuracy" and not spec.lower_is_better
    with pytest.raises(SpecError, match=r"model \{'n_classes': 5\} does not fit dataset"):
        fit_to_dataset(parse_spec(spec_for(cid, n_classes=5)), wine.manifest)
    assert data_options(spec, wine.folder) == {"dataset_dir": str(wine.folder)}
    assert isinstance(task_data(spec, wine.folder), TabularData)
    with pytest.raises(ValueError, match="needs its dataset folder"):
        task_data(spec)


def test_a_folder_without_a_verified_manifest_is_refused(tmp_path, wine):
    with pytest.raises(DatasetError, match="holds no verified dataset"):
        TabularData(tmp_path)
    (tmp_path / "manifest.json").write_bytes(wine.manifest.canonical_json())
    with pytest.raises(DatasetError, match="shards missing"):
        TabularData(tmp_path)


def test_the_scale_is_each_features_train_maximum(wine):
    data = TabularData(wine.folder)
    table = wine.read("train")
    raw = np.stack([table.column(f).to_numpy() for f in data.features], axis=1)
    assert np.array_equal(data.scale, np.abs(raw).max(axis=0).astype(np.float32))


def test_the_holdout_can_be_scored_apart_from_the_validation_split(wine):
    held = TabularData(wine.folder, judged_split="holdout")
    assert held.val_x.shape[0] == wine.manifest.splits["holdout"].rows
    assert torch.equal(held.train_x, TabularData(wine.folder).train_x)  # same scale, same train
    with pytest.raises(ValueError, match="judged_split must be 'val', 'holdout' or 'holdout:R'"):
        TabularData(wine.folder, judged_split="train")
    digits = parse_spec({**spec_for("x"), "kind": "digits", "dataset": None})
    with pytest.raises(ValueError, match="a digits task has no holdout split"):
        task_data(digits, judged_split="holdout")


def test_a_users_rows_are_read_as_the_model_was_trained(wine):
    import pyarrow as pa

    data = TabularData(wine.folder)
    table = wine.read("val")
    assert torch.equal(data.features_of(table), data.val_x)  # the label column is not read
    with pytest.raises(DatasetError, match="the rows have no column 'alcohol'"):
        data.features_of(table.drop_columns(["alcohol"]))
    broken = table.set_column(0, "alcohol", pa.array(["x"] * table.num_rows))
    with pytest.raises(DatasetError, match="column 'alcohol' is not numeric"):
        data.features_of(broken)
    gap = table.set_column(0, "alcohol", pa.array([None, *[1.0] * (table.num_rows - 1)]))
    with pytest.raises(DatasetError, match="row 1 has no value in column 'alcohol'"):
        data.features_of(gap)
