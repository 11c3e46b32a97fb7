"""The training loop: exact accuracy bookkeeping, repeatable runs, and learning on real data."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

import helpers
from helpers.models import HorsesHumansCNN


class Fixed(nn.Module):
    """A 'model' whose outputs are given: lets us check the bookkeeping exactly."""

    def __init__(self, outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs = outputs
        self.weight = nn.Parameter(torch.zeros(()))
        self.calls = 0

    def forward(self, images):
        out = self.outputs[self.calls: self.calls + len(images)] + self.weight
        self.calls += len(images)
        return out


def test_evaluate_counts_a_one_logit_model_correctly():
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0], [1.0]])  # predicts 1, 0, 1, 0, 1
    labels = torch.tensor([1, 0, 0, 0, 0])  # right: 1st, 2nd, 4th
    batches = [(torch.zeros(3, 1), labels[:3]), (torch.zeros(2, 1), labels[3:])]
    _, accuracy = helpers.evaluate(Fixed(logits), batches, nn.BCEWithLogitsLoss(), "cpu")
    assert accuracy == pytest.approx(3 / 5)


def test_evaluate_counts_a_many_logit_model_correctly():
    logits = torch.eye(3)[[0, 1, 2, 2]] * 5  # predicts 0, 1, 2, 2
    labels = torch.tensor([0, 1, 1, 2])
    loss, accuracy = helpers.evaluate(Fixed(logits), [(torch.zeros(4, 1), labels)],
                                      nn.CrossEntropyLoss(), "cpu")
    assert accuracy == pytest.approx(0.75)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)


def test_predict_returns_classes_in_order():
    logits = torch.tensor([[0.1, 0.9], [3.0, -1.0], [0.0, 2.0]])
    batches = [(torch.zeros(2, 1), torch.zeros(2)), (torch.zeros(1, 1), torch.zeros(1))]
    assert helpers.predict(Fixed(logits), batches, "cpu").tolist() == [1, 0, 1]


def test_device_is_the_cpu_here():
    assert helpers.get_device().type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        assert helpers.get_device().type in {"cpu", "mps"}


@pytest.fixture(scope="module")
def horses_or_humans():
    return helpers.load_horses_or_humans(size=150)


def _short_run(train, val, epochs):
    helpers.seed_everything(7)
    model = HorsesHumansCNN()
    return helpers.fit(model, helpers.InMemoryLoader(train, 32, shuffle=True),
                       helpers.InMemoryLoader(val, 128), epochs=epochs,
                       loss_fn=nn.BCEWithLogitsLoss(), verbose=False)


def test_a_seeded_run_repeats_exactly(horses_or_humans):
    train, val = (s.subset(per_class=24, seed=3) for s in horses_or_humans)
    first, second = _short_run(train, val, 2), _short_run(train, val, 2)
    assert len(first) == 2 and all(0 <= a <= 1 for a in first.train_acc + first.val_acc)
    assert first.train_loss == second.train_loss and first.val_acc == second.val_acc


def test_the_horses_or_humans_cnn_learns_on_real_data(horses_or_humans):
    """Two epochs on the real training set: validation accuracy well above chance (50%)."""
    train, val = horses_or_humans
    start = time.perf_counter()
    history = _short_run(train, val, 2)
    print(f"validation accuracy {history.val_acc}, {time.perf_counter() - start:.0f} s")
    assert max(history.val_acc) >= 0.70
    assert history.train_acc[-1] >= 0.80
