"""The digits task data: bundled scikit-learn digits, stratified split, balanced accuracy."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from magnet_market.tasks import DigitsData


@pytest.fixture(scope="module")
def data() -> DigitsData:
    return DigitsData()


def test_shapes_ranges_and_stratified_split(data):
    assert data.train_x.shape == (1437, 64) and data.val_x.shape == (360, 64)
    assert (
        data.train_x.dtype == torch.float32
        and 0.0 <= float(data.train_x.min()) < float(data.train_x.max()) <= 1.0
    )
    counts = torch.bincount(data.val_y, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # ~36 per class
    again = DigitsData()
    assert torch.equal(again.val_x, data.val_x)
    assert not torch.equal(DigitsData(split_seed=1).val_y, data.val_y)


def test_batches(data):
    x, y = data.get_batch("train", 8, torch.Generator().manual_seed(0))
    assert x.shape == (8, 64) and y.shape == (8,) and y.dtype == torch.long
    with pytest.raises(ValueError, match="split"):
        data.get_batch("nope", 8, torch.Generator())


class Oracle(nn.Module):
    """Predicts the true label for classes < k and class 0 otherwise."""

    def __init__(self, data: DigitsData, k: int) -> None:
        super().__init__()
        self.lookup = {
            tuple(r.tolist()): int(c) for r, c in zip(data.val_x, data.val_y, strict=True)
        }
        self.k = k

    def forward(self, x, y):
        pred = torch.tensor([c if (c := self.lookup[tuple(r.tolist())]) < self.k else 0 for r in x])
        logits = nn.functional.one_hot(pred, 10).float() * 10
        return logits, nn.functional.cross_entropy(logits, y)


def test_balanced_accuracy(data):
    assert data.evaluate(Oracle(data, 10))["balanced_accuracy"] == pytest.approx(1.0)
    # classes 0..4 right, 5..9 all predicted 0: mean recall = 5 / 10
    assert data.evaluate(Oracle(data, 5))["balanced_accuracy"] == pytest.approx(0.5)


def test_argument_errors():
    with pytest.raises(ValueError, match="val_fraction"):
        DigitsData(val_fraction=1.5)
