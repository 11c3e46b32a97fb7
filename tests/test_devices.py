"""Device mistakes are caught by design: every helper that runs a model runs it where the
model's weights are and moves each batch there, wherever its loader made the batches; a
``device`` argument is not needed, and one that names another device is refused with what to do
(it would otherwise train on one device while the learner believes it is another).

There is no GPU here, so PyTorch's "meta" device stands in for "another device": a model whose
weights are on "meta" (as a model on the GPU, called with CPU batches), and a device argument of
"meta" for a model on the CPU (as fit(device="cuda") for a model left on the CPU).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import helpers.transfer as transfer
from helpers.inference import ImageTransform, predict, predict_image
from helpers.models import feature_maps, model_device
from helpers.precision import Precision
from helpers.safety import TrainingError, device_for
from helpers.training import evaluate, fit, make_optimizer, train_one_epoch
from helpers.transfer import extract_features

OTHER = torch.device("meta")  # stands in for a GPU


class ElsewhereModel(nn.Module):
    """A model whose weights sit on another device: it records where each batch arrives and
    answers with fixed logits on the CPU (class ``classes - 1`` wins)."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(classes, device=OTHER))
        self.logits = torch.arange(float(classes))
        self.seen: list[torch.device] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(images.device)
        return self.logits.expand(len(images), -1)


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


def cpu_loader(n: int = 12, batch: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, 8, 8, generator=generator)
    labels = torch.arange(n) % 3
    return [(images[i:i + batch], labels[i:i + batch]) for i in range(0, n, batch)]


def test_the_model_device_is_where_its_weights_are():
    assert model_device(ElsewhereModel(), "cpu") == OTHER
    assert model_device(nn.BatchNorm1d(2, affine=False).to(OTHER)) == OTHER  # buffers only
    assert model_device(nn.Flatten(), "cpu") == torch.device("cpu")  # no weights: as asked
    assert model_device(nn.Flatten()) == torch.device("cpu")


# --- a model on another device, given CPU batches ------------------------------------------

def test_predict_moves_cpu_batches_to_the_model():
    model = ElsewhereModel()
    predictions = predict(model, cpu_loader())
    assert model.seen == [OTHER] * 3  # every batch went to the model, none stayed on the CPU
    assert predictions.tolist() == [2] * 12 and predictions.device.type == "cpu"


def test_predict_image_and_feature_maps_move_the_image_to_the_model():
    model = ElsewhereModel(classes=2)
    picture = Image.fromarray(np.full((30, 40, 3), 200, np.uint8))
    result = predict_image(model, picture, ["cat", "dog"], ImageTransform(32))
    assert model.seen == [OTHER] and result[0][0] == "dog"
    maps = feature_maps(model, torch.zeros(3, 8, 8), {"logits": model})
    assert model.seen[-1] == OTHER and maps["logits"].tolist() == [0.0, 1.0]


def test_extract_features_moves_cpu_batches_to_the_base():
    base = small_cnn()[:4].to(OTHER)  # convolution, pooling, flatten: 4 features an image
    features = extract_features(base, cpu_loader(), OTHER)  # as asked
    assert features.device == OTHER and features.shape == (12, 4)


def test_the_loss_weights_follow_the_model():
    """A loss with class weights made on the CPU is moved to where the model is."""
    moved = []

    class Recorded(nn.CrossEntropyLoss):
        def to(self, *args, **kwargs):
            moved.append(torch.device(args[0]))
            return self

    model, loss_fn = small_cnn(), Recorded(weight=torch.tensor([1.0, 2.0, 3.0]))
    train_one_epoch(model, cpu_loader(), loss_fn, make_optimizer(model))
    evaluate(model, cpu_loader(), loss_fn)
    assert moved == [torch.device("cpu")] * 2
    model.to(OTHER)
    with pytest.raises(RuntimeError):  # meta tensors cannot be read: only the move matters here
        evaluate(model, cpu_loader(), loss_fn)
    assert moved[-1] == OTHER


# --- a model on the CPU, given another device (the reverse) -------------------------------

NOT_THERE = r"device='meta' was asked for, but Sequential's weights are on cpu\. Move the model"


def test_every_helper_refuses_a_device_that_is_not_the_models():
    model, loader, loss_fn = small_cnn(), cpu_loader(), nn.CrossEntropyLoss()
    before = [p.detach().clone() for p in model.parameters()]
    for run in (lambda: evaluate(model, loader, loss_fn, OTHER),
                lambda: predict(model, loader, OTHER),
                lambda: train_one_epoch(model, loader, loss_fn, make_optimizer(model), OTHER),
                lambda: fit(model, loader, loader, epochs=1, device=OTHER, verbose=False),
                lambda: extract_features(model[:4], loader, OTHER)):
        with pytest.raises(TrainingError, match=NOT_THERE):
            run()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing learnt


def test_a_device_naming_the_models_own_is_accepted():
    model, loader = small_cnn(), cpu_loader()
    assert torch.equal(predict(model, loader, "cpu"), predict(model, loader))
    assert torch.equal(predict(model, loader, torch.device("cpu")), predict(model, loader))
    assert device_for(nn.Flatten(), "meta") == OTHER  # no weights: the device asked for


# --- mixed precision ----------------------------------------------------------------------

def test_extract_features_can_skip_mixed_precision(monkeypatch):
    """On a GPU the base runs under autocast unless told not to; here "cuda" is pretended."""
    entered = []

    class Pretended(Precision):
        def autocast(self):
            entered.append(self.device_type)
            return torch.autocast("cpu", enabled=False)

    monkeypatch.setattr(transfer, "choose_precision",
                        lambda device: Pretended("cuda", torch.float16, "pretended"))
    base = small_cnn()[:4]
    fast = extract_features(base, cpu_loader())
    assert len(entered) == 3
    exact = extract_features(base, cpu_loader(), mixed_precision=False)
    assert len(entered) == 3  # fp32: autocast never entered
    # on a GPU, bf16 keeps ~3 significant digits: compare at that tolerance (equal on a CPU)
    torch.testing.assert_close(fast, exact, rtol=2e-2, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_cpu_batches_reach_a_gpu_model():
    model = small_cnn().cuda()
    loader = cpu_loader()
    expected = predict(small_cnn(), loader)
    assert (predict(model, loader) == expected).float().mean() >= 0.9  # bf16 ties
    assert (predict(model, loader, "cuda") == expected).float().mean() >= 0.9  # cuda = cuda:0
    loss, accuracy = evaluate(model, loader, nn.CrossEntropyLoss())
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    features = extract_features(model[:4], loader, mixed_precision=False)
    torch.testing.assert_close(features.cpu(), extract_features(small_cnn()[:4], loader),
                               rtol=1e-2, atol=1e-3)  # fp32 on a GPU may use TF32 convolutions
