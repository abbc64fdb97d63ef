"""Series tasks: the next-step direction of a sponsor's time series, by dataset CID."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magnet_market.app.datasets import fetch_dataset, publish_dataset
from magnet_market.bitnet.model import ClassifierConfig, build_model
from magnet_market.bitnet.train import OptimConfig, TrainConfig, train
from magnet_market.datasets import DatasetError, PackOptions
from magnet_market.datasets.local import LocalDataset
from magnet_market.storage import LocalStore
from magnet_market.tasks.data import task_data
from magnet_market.tasks.series_dataset import WINDOW, SeriesDatasetData
from magnet_market.tasks.spec import fit_to_dataset, parse_spec


def co2_csv(path):
    """statsmodels' bundled Mauna Loa weekly CO2 record as a user's CSV (missing weeks left
    out), with the week of the year as a second column."""
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data.dropna()
    frame["week"] = frame.index.isocalendar().week.astype(int)
    frame.rename_axis("date").reset_index().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def co2(tmp_path_factory) -> LocalDataset:
    tmp = tmp_path_factory.mktemp("co2")
    store = LocalStore(tmp / "store")
    published = publish_dataset(store, co2_csv(tmp / "co2.csv"), PackOptions("series", time="date"))
    return fetch_dataset(store, published.cid, tmp / "cache")


def test_examples_call_the_first_column_and_never_cross_a_split(co2):
    data = SeriesDatasetData(co2.folder)
    assert data.columns == ("co2", "week") and data.n_features == 2 * WINDOW
    train, val = co2.read("train"), co2.read("val")
    level = np.concatenate([train.column("co2").to_numpy(), val.column("co2").to_numpy()])
    a = train.num_rows
    calls = [i for i in range(WINDOW, a - 1) if level[i + 1] != level[i]]
    assert data.train_y.tolist() == [int(level[i + 1] > level[i]) for i in calls]
    assert len(data.val_y) <= val.num_rows - 1  # val labels stay inside val
    x = data.train_x
    assert x.shape == (len(calls), 2 * WINDOW) and float(x.abs().max()) <= 1.0


def test_a_classifier_calls_the_direction(co2):
    data = SeriesDatasetData(co2.folder)
    torch.manual_seed(0)
    model = build_model(ClassifierConfig(n_features=2 * WINDOW, n_classes=2, hidden=32, n_layers=1))
    cfg = TrainConfig(steps=200, batch_size=64, optim=OptimConfig(lr=1e-2, warmup_steps=5))
    train(model, data, cfg)
    assert data.evaluate(model)["hit_rate"] > 0.6  # the yearly cycle; a coin gets 0.5


def test_a_series_spec_takes_the_window_of_every_column(co2):
    base = {"name": "co2", "kind": "series", "dataset": "bafkreiexample", "rounds": 1}
    spec = parse_spec({**base, "inner_steps": 5, "market": {"bounty": 1}})
    fitted = fit_to_dataset(spec, co2.manifest)
    assert (fitted.model["n_features"], fitted.model["n_classes"]) == (2 * WINDOW, 2)
    assert (fitted.metric, fitted.lower_is_better) == ("hit_rate", False)
    assert isinstance(task_data(fitted, co2.folder), SeriesDatasetData)


def test_too_short_a_series_is_refused(co2):
    with pytest.raises(DatasetError, match="no train examples: the train split needs more than"):
        SeriesDatasetData(co2.folder, window=10_000)


def test_the_holdout_examples_are_the_most_recent(co2):
    held = SeriesDatasetData(co2.folder, judged_split="holdout")
    rows = co2.manifest.splits["holdout"].rows
    assert 0 < held.val_y.shape[0] <= rows - 1  # labels stay inside the holdout
    assert torch.equal(held.train_x, SeriesDatasetData(co2.folder).train_x)


def test_the_next_step_is_called_from_the_last_rows(co2):
    data = SeriesDatasetData(co2.folder)
    table = co2.read("train")
    last = data.window_of(table.slice(0, WINDOW + 1))
    assert last.shape == (1, 2 * WINDOW)
    # the changes up to the last row, each column by its train scale, as in training
    values = np.stack([table.column(c).to_numpy()[: WINDOW + 1] for c in ("co2", "week")], 1)
    expected = (np.diff(values, axis=0) / data.change_scale).astype(np.float32).reshape(-1)
    assert torch.equal(last[0], torch.from_numpy(expected))
    with pytest.raises(DatasetError, match="calling the next needs the last 33"):
        data.window_of(table.slice(0, WINDOW))
