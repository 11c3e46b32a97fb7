"""The models and the numbers the lessons teach: 577, 640, 333,898, 10,641,441."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal
from torchsummary import summary

import helpers
from helpers.models import FashionCNN, FashionDense, HorsesHumansCNN, feature_maps
from helpers.widgets import filter_image, kernel_editor, pool_image

PATCH = [[0, 64, 128], [48, 192, 144], [142, 226, 168]]
KERNEL = [[-1, 0, -2], [0.5, 4.5, -1.5], [1.5, 2, -3]]


def test_the_hand_worked_convolution_is_577_everywhere():
    patch, kernel = torch.tensor(PATCH, dtype=torch.float32), torch.tensor(KERNEL)
    assert (patch * kernel).sum().item() == 577
    assert F.conv2d(patch[None, None], kernel[None, None]).item() == 577
    assert signal.correlate2d(np.array(PATCH), np.array(KERNEL), mode="valid").item() == 577
    assert filter_image(np.array(PATCH), KERNEL)[1, 1] == pytest.approx(577)


def test_pooling_by_hand():
    small = np.array([[1, 5, 2, 0], [3, 8, 1, 4], [9, 2, 6, 7], [0, 4, 3, 5]], dtype=np.float32)
    assert pool_image(small, "max").tolist() == [[8, 4], [9, 7]]
    assert pool_image(small, "min").tolist() == [[1, 0], [0, 3]]
    assert pool_image(small, "average").tolist() == [[4.25, 1.75], [3.75, 5.25]]
    assert pool_image(np.zeros((512, 512)), "max").shape == (256, 256)
    with pytest.raises(ValueError, match="kind"):
        pool_image(small, "median")


def test_kernel_editor_builds_with_presets():
    editor = kernel_editor(np.random.default_rng(0).integers(0, 255, (32, 32)).astype(np.float32))
    controls = editor.children[0]
    assert "vertical lines" in controls.children[0].options


@pytest.mark.parametrize("model, shape, total", [
    (FashionDense(), (1, 28, 28), "101,770"),
    (FashionCNN(), (1, 28, 28), "333,898"),
    (HorsesHumansCNN(), (3, 150, 150), "10,641,441"),
])
def test_parameter_counts_match_the_lessons(model, shape, total, capsys):
    assert helpers.count_parameters(model) == (int(total.replace(",", "")), 0)
    summary(model, input_size=shape, device="cpu")
    assert f"Total params: {total}" in capsys.readouterr().out


def test_a_conv_layer_of_64_3x3_filters_has_640_parameters():
    assert helpers.count_parameters(torch.nn.Conv2d(1, 64, 3))[0] == 640


def test_models_return_logits_of_the_right_shape():
    assert FashionCNN()(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert FashionDense()(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    out = HorsesHumansCNN()(torch.randn(2, 3, 150, 150))
    assert out.shape == (2, 1)


def test_feature_maps_follow_one_image_through_the_cnn():
    cnn = FashionCNN()
    maps = feature_maps(cnn, torch.randn(1, 28, 28),
                        {"conv 1": cnn.block1[0], "pool 1": cnn.block1[2],
                         "pool 2": cnn.block2[2]})
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "conv 1": (64, 28, 28), "pool 1": (64, 14, 14), "pool 2": (64, 6, 6)}
    assert not cnn.block1[0]._forward_hooks  # hooks removed afterwards
