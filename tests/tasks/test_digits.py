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


def test_augment_shifts_a_share_of_rows_by_at_most_one_pixel(data):
    x = data.train_x[:400]
    assert torch.equal(data.augment(x, 0.0, torch.Generator().manual_seed(0)), x)
    moved = data.augment(x, 0.5, torch.Generator().manual_seed(0))
    images, out = x.view(-1, 8, 8), moved.view(-1, 8, 8)
    padded = nn.functional.pad(images, (1, 1, 1, 1))
    changed = 0
    for i in range(len(x)):
        shifts = [
            padded[i, 1 + dy : 9 + dy, 1 + dx : 9 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        ]
        assert any(torch.equal(out[i], s) for s in shifts)  # one of the nine, blank fill
        changed += not torch.equal(out[i], images[i])
    assert 120 < changed < 200  # about half chosen, 8 of 9 offsets move the digit
    again = data.augment(x, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(again, moved)  # the batch generator decides: resumable runs replay it
