"""Device errors are impossible by design: every helper that runs a model runs it where the
model's weights are and moves each batch there, whatever device a notebook passes and wherever
its loader made the batches.

There is no GPU here, so PyTorch's "meta" device stands in for "another device": a model whose
weights are on "meta" (as a model on the GPU, called with CPU batches and device "cpu", in
notebook 06), and a device argument of "meta" for a model on the CPU (the reverse).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import helpers.precision as precision
import helpers.training as training
from helpers.inference import ImageTransform, predict_image
from helpers.models import feature_maps, model_device
from helpers.precision import Precision
from helpers.training import evaluate, fit, make_optimizer, predict, train_one_epoch
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


# --- a model on another device, given CPU batches and device "cpu" (notebook 06) ----------

def test_predict_moves_cpu_batches_to_the_model():
    model = ElsewhereModel()
    predictions = predict(model, cpu_loader(), "cpu")
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
    features = extract_features(base, cpu_loader(), "cpu")
    assert features.device == OTHER and features.shape == (12, 4)


def test_the_loss_weights_follow_the_model():
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0]))  # made on the CPU
    assert training._run_on(ElsewhereModel(), "cpu", loss_fn) == OTHER
    assert loss_fn.weight.device == OTHER


# --- a model on the CPU, given another device (the reverse) -------------------------------

def test_evaluate_and_predict_overrule_a_device_that_is_not_the_models():
    model, loader = small_cnn(), cpu_loader()
    assert evaluate(model, loader, nn.CrossEntropyLoss(), OTHER) == evaluate(
        model, loader, nn.CrossEntropyLoss(), "cpu")
    assert torch.equal(predict(model, loader, OTHER), predict(model, loader))


def test_training_overrules_a_device_that_is_not_the_models():
    def one_epoch(device) -> tuple[float, float]:
        model = small_cnn()
        return train_one_epoch(model, cpu_loader(), nn.CrossEntropyLoss(),
                               make_optimizer(model), device)

    assert one_epoch(OTHER) == one_epoch("cpu")

    def history(device):
        torch.manual_seed(0)
        return fit(small_cnn(), cpu_loader(), cpu_loader(), epochs=2, device=device,
                   verbose=False)

    on_other, on_cpu = history(OTHER), history("cpu")
    assert on_other.train_loss == on_cpu.train_loss and on_other.val_acc == on_cpu.val_acc


def test_extract_features_overrules_a_device_that_is_not_the_bases():
    base = small_cnn()[:4]
    torch.testing.assert_close(extract_features(base, cpu_loader(), OTHER),
                               extract_features(base, cpu_loader()), rtol=0, atol=0)


# --- mixed precision ----------------------------------------------------------------------

def test_extract_features_can_skip_mixed_precision(monkeypatch):
    """On a GPU the base runs under autocast unless told not to; here "cuda" is pretended."""
    entered = []

    class Pretended(Precision):
        def autocast(self):
            entered.append(self.device_type)
            return torch.autocast("cpu", enabled=False)

    monkeypatch.setattr(precision, "choose_precision",
                        lambda device: Pretended("cuda", torch.float16, "pretended"))
    base = small_cnn()[:4]
    fast = extract_features(base, cpu_loader())
    assert len(entered) == 3
    exact = extract_features(base, cpu_loader(), mixed_precision=False)
    assert len(entered) == 3  # fp32: autocast never entered
    # on a GPU, bf16 keeps ~3 significant digits: compare at that tolerance (equal on a CPU)
    torch.testing.assert_close(fast, exact, rtol=2e-2, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_cpu_batches_and_device_cpu_reach_a_gpu_model():
    model = small_cnn().cuda()
    loader = cpu_loader()
    expected = predict(small_cnn(), loader)
    assert (predict(model, loader, "cpu") == expected).float().mean() >= 0.9  # bf16 ties
    loss, accuracy = evaluate(model, loader, nn.CrossEntropyLoss(), "cpu")
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    features = extract_features(model[:4], loader, "cpu", mixed_precision=False)
    torch.testing.assert_close(features.cpu(), extract_features(small_cnn()[:4], loader),
                               rtol=1e-2, atol=1e-3)  # fp32 on a GPU may use TF32 convolutions
