"""The models and the numbers the lessons teach: 577, 640, 101,770, 333,898, 10,641,441."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal
from torchsummary import summary

import helpers
from helpers.explorers import KERNEL_PRESETS, filter_image, pool_image
from helpers.models import FashionCNN, FashionDense, HorsesHumansCNN, RPSNet, feature_maps

# The chapter's worked example: a 3x3 neighbourhood of pixels and a 3x3 filter.
PATCH = [[0, 64, 128], [48, 192, 144], [142, 226, 168]]
KERNEL = [[-1, 0, -2], [0.5, 4.5, -1.5], [1.5, 2, -3]]


# --------------------------------------------------------------------------------------
# Filtering and pooling by hand
# --------------------------------------------------------------------------------------


def test_the_hand_worked_convolution_is_577_everywhere():
    patch, kernel = torch.tensor(PATCH, dtype=torch.float32), torch.tensor(KERNEL)
    assert (patch * kernel).sum().item() == 577
    assert F.conv2d(patch[None, None], kernel[None, None]).item() == 577
    assert signal.correlate2d(np.array(PATCH), np.array(KERNEL), mode="valid").item() == 577
    assert filter_image(np.array(PATCH), KERNEL)[1, 1] == pytest.approx(577)


def test_filter_image_is_cross_correlation_with_zero_padding():
    image = np.random.default_rng(0).integers(0, 256, (9, 7)).astype(np.float32)
    kernel = np.array(KERNEL, dtype=np.float32)
    filtered = filter_image(image, kernel)
    assert filtered.shape == image.shape  # same size out
    expected = signal.correlate2d(image, kernel, mode="same", boundary="fill", fillvalue=0)
    np.testing.assert_allclose(filtered, expected, rtol=1e-5, atol=1e-2)
    # not convolution: flipping the (asymmetric) kernel gives another answer
    assert not np.allclose(filtered, signal.convolve2d(image, kernel, mode="same"))
    np.testing.assert_allclose(filter_image(image, KERNEL_PRESETS["identity"]), image)


SMALL = np.array([[1, 5, 2, 0], [3, 8, 1, 4], [9, 2, 6, 7], [0, 4, 3, 5]], dtype=np.float32)


@pytest.mark.parametrize(("kind", "expected"), [
    ("max", [[8, 4], [9, 7]]),
    ("min", [[1, 0], [0, 3]]),
    ("average", [[4.25, 1.75], [3.75, 5.25]]),
])
def test_pooling_by_hand(kind, expected):
    pooled = pool_image(SMALL, kind)
    assert pooled.shape == (2, 2)
    assert pooled.tolist() == expected


def test_pooling_halves_each_side_and_rejects_unknown_kinds():
    assert pool_image(np.zeros((512, 512)), "max").shape == (256, 256)
    assert pool_image(np.zeros((28, 28)), "average").shape == (14, 14)
    with pytest.raises(ValueError, match="kind"):
        pool_image(SMALL, "median")


# --------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model_class", "shape", "total"), [
    (FashionDense, (1, 28, 28), "101,770"),
    (FashionCNN, (1, 28, 28), "333,898"),
    (HorsesHumansCNN, (3, 150, 150), "10,641,441"),
    (RPSNet, (3, 128, 128), "585,315"),
])
def test_parameter_counts_match_the_lessons(model_class, shape, total, capsys):
    model = model_class()
    assert helpers.count_parameters(model) == (int(total.replace(",", "")), 0)
    summary(model, input_size=shape, device="cpu")
    out = capsys.readouterr().out
    assert f"Total params: {total}" in out
    assert f"Trainable params: {total}" in out


def test_a_conv_layer_of_64_3x3_filters_has_640_parameters():
    assert helpers.count_parameters(torch.nn.Conv2d(1, 64, 3)) == (640, 0)


def test_count_parameters_separates_frozen_weights():
    model = FashionCNN()
    for parameter in model.block1.parameters():
        parameter.requires_grad = False
    assert helpers.count_parameters(model) == (333_898 - 640, 640)


def test_models_return_logits_of_the_right_shape():
    assert FashionCNN()(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert FashionDense()(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert RPSNet(num_classes=3)(torch.zeros(2, 3, 128, 128)).shape == (2, 3)
    assert RPSNet(num_classes=5, image_size=64)(torch.zeros(2, 3, 64, 64)).shape == (2, 5)
    with pytest.raises(RuntimeError):  # its dense layer is sized for image_size
        RPSNet(image_size=64)(torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError, match="multiple of 16"):
        RPSNet(image_size=100)
    model = HorsesHumansCNN().eval()
    out = model(torch.randn(2, 3, 150, 150))
    assert out.shape == (2, 1)
    assert out.dtype == torch.float32
    with pytest.raises(RuntimeError):  # the dense layer is sized for 150 x 150 images
        model(torch.randn(1, 3, 64, 64))


def test_feature_maps_follow_one_image_through_the_fashion_cnn():
    torch.manual_seed(0)
    cnn = FashionCNN()
    image = torch.randn(1, 28, 28)
    layers = {"block1": cnn.block1, "conv 1": cnn.block1[0], "block2": cnn.block2}
    maps = feature_maps(cnn, image, layers)
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "block1": (64, 14, 14), "conv 1": (64, 28, 28), "block2": (64, 6, 6)}
    with torch.no_grad():
        after_block1 = cnn.block1(image[None])
        torch.testing.assert_close(maps["block1"], after_block1[0])
        torch.testing.assert_close(maps["block2"], cnn.block2(after_block1)[0])
    assert all(not layer._forward_hooks for layer in layers.values())  # hooks removed


def test_feature_maps_of_the_horses_humans_cnn():
    cnn = HorsesHumansCNN()
    layers = {"conv 1": cnn.features[0], "pool 3": cnn.features[8]}
    maps = feature_maps(cnn, torch.rand(3, 150, 150), layers)
    assert tuple(maps["conv 1"].shape) == (16, 150, 150)
    assert tuple(maps["pool 3"].shape) == (64, 18, 18)
    assert maps["pool 3"].min() >= 0  # taken after a ReLU
