"""Transfer learning (Inception v3 head, frozen base, cached features, weights files) and the
from-scratch Rock-Paper-Scissors model on real data.

Inception v3 accepts inputs down to 75 x 75, which keeps these tests fast on a CPU; the
pretrained weights cannot be downloaded here, so the weight-file tests use a file written by
the test itself (named with its own SHA-256 prefix, as torch names its checkpoints).
"""

from __future__ import annotations

import hashlib
import time
import warnings

import pytest
import torch
from torch import nn
from torchvision.models import inception_v3

import helpers
import helpers.downloads as downloads
import helpers.pretrained as pretrained
import helpers.transfer as transfer
from conftest import LEARNING_PRECISIONS
from helpers.downloads import Archive
from helpers.models import RPSNet
from helpers.pretrained import PretrainedWeightsUnavailable, WeightsError
from helpers.transfer import (
    TensorLoader,
    TransferNet,
    extract_features,
    inception_transfer,
    make_head,
)

HEAD_PARAMETERS_3 = 2048 * 1024 + 1024 + 1024 * 3 + 3  # 2,101,251
# torchvision's 27,161,264 less its 1000-class fc (2,049,000) and auxiliary classifier
# (3,326,696); the README's "21.8 million"
INCEPTION_FROZEN = 21_785_568


@pytest.fixture(scope="module")
def net() -> TransferNet:
    torch.manual_seed(0)
    return TransferNet(num_classes=3)


def test_the_new_head_is_the_only_trainable_part(net):
    trainable, frozen = helpers.count_parameters(net)
    assert trainable == HEAD_PARAMETERS_3
    assert all(not p.requires_grad for p in net.base.parameters())
    assert all(p.requires_grad for p in net.head.parameters())
    assert frozen == INCEPTION_FROZEN
    assert [type(m) for m in net.head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert net.head[0].in_features == 2048 and net.head[-1].out_features == 3


@pytest.mark.slow
def test_training_mode_gives_one_tensor_and_keeps_the_base_in_eval(net):
    net.train()
    try:
        out = net(torch.randn(2, 3, 75, 75))
        assert isinstance(out, torch.Tensor) and out.shape == (2, 3)  # no aux logits tuple
        assert net.head.training and not net.base.training
        assert not any(m.training for m in net.base.modules())
    finally:
        net.eval()


@pytest.mark.slow
def test_a_training_step_changes_the_head_and_not_the_base(net):
    model = TransferNet(num_classes=2)
    base_before = {k: v.clone() for k, v in model.base.state_dict().items()}
    head_before = [p.clone() for p in model.head.parameters()]
    images, labels = torch.randn(4, 3, 75, 75), torch.tensor([0, 1, 0, 1])
    helpers.fit(model, [(images, labels)], [(images, labels)], epochs=1, verbose=False)
    for key, value in model.base.state_dict().items():  # batch-norm statistics included
        assert torch.equal(value, base_before[key]), key
    assert any(not torch.equal(a, b) for a, b in zip(model.head.parameters(), head_before))


def test_dropout_head_has_dropout_before_and_after_the_hidden_layer():
    head = make_head(2048, 3, dropout=0.5)
    assert [type(m) for m in head] == [nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert all(m.p == 0.5 for m in head if isinstance(m, nn.Dropout))
    assert TransferNet(3, dropout=0.5).config == {"num_classes": 3, "hidden": 1024,
                                                  "dropout": 0.5, "base": "inception_v3"}


@pytest.mark.slow
def test_cached_features_give_the_same_logits_as_the_full_model(net):
    images = torch.randn(10, 3, 75, 75)
    labels = torch.zeros(10, dtype=torch.long)
    features = extract_features(net.base, [(images[:6], labels[:6]), (images[6:], labels[6:])],
                                "cpu", mixed_precision=False)  # fp32, compared exactly
    assert features.shape == (10, 2048)
    with torch.no_grad():
        direct = net.eval().base(images)
    # an untrained base gives tiny features, so compare them relatively (no absolute slack)
    assert direct.abs().max() > 0 and (direct[0] - direct[1]).abs().max() > 0
    torch.testing.assert_close(features, direct, rtol=1e-4, atol=0)
    with torch.no_grad():
        net.eval()
        full = net(images)
        net.train()  # the base stays in eval mode, so training-mode logits match too
        full_train_mode = net(images)
        net.eval()
        cached = net.head(features)
    torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cached, full_train_mode, rtol=1e-4, atol=1e-5)


def test_tensor_loader_batches_everything_once_and_shuffles_with_its_seed():
    features, labels = torch.arange(10.0).view(10, 1), torch.arange(10)
    batches = list(TensorLoader(features, labels, batch_size=4))
    assert [len(y) for _, y in batches] == [4, 4, 2] and len(TensorLoader(features, labels, 4)) == 3
    order = [torch.cat([y for _, y in TensorLoader(features, labels, 4, shuffle=True, seed=s)])
             for s in (1, 1, 2)]
    assert sorted(order[0].tolist()) == list(range(10))
    assert torch.equal(order[0], order[1]) and not torch.equal(order[0], order[2])
    with pytest.raises(ValueError, match="10 feature rows but 9 labels"):
        TensorLoader(features, labels[:9])


# --------------------------------------------------------------------------------------
# Weights files: found, checked, or loudly missing
# --------------------------------------------------------------------------------------


@pytest.fixture()
def offline_hub(tmp_path, monkeypatch):
    """An empty torch cache and no CONVNET_WEIGHTS; downloads fail as they do offline."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(pretrained.WEIGHTS_ENV, raising=False)
    def no_network(archive: Archive, partial, deadline):
        assert archive.url == pretrained.WEIGHTS.url
        raise OSError("Name or service not known")

    monkeypatch.setattr(downloads, "_fetch", no_network)
    monkeypatch.setattr(downloads, "RETRY_PAUSE", 0.0)
    return tmp_path


def test_missing_weights_warn_loudly_and_the_model_still_runs(offline_hub):
    with pytest.warns(PretrainedWeightsUnavailable, match="UNTRAINED weights"):
        model, loaded = inception_transfer(num_classes=2)
    assert loaded is False
    assert model.eval()(torch.randn(1, 3, 75, 75)).shape == (1, 2)


def test_inception_without_its_weights_is_refused_for_training(offline_hub):
    with pytest.raises(pretrained.WeightsUnavailableError, match="efficientnet_lite0"):
        transfer.pretrained_transfer("inception_v3", num_classes=2)
    with pytest.raises(ValueError, match="Unknown base 'resnet'"):
        transfer.pretrained_transfer("resnet", num_classes=2)


def test_a_half_downloaded_weights_file_is_named_in_the_error(offline_hub, monkeypatch):
    folder = offline_hub / "weights"
    folder.mkdir()
    damaged = folder / pretrained.WEIGHTS_FILE
    damaged.write_bytes(b"\x00" * 5000)
    monkeypatch.setenv(pretrained.WEIGHTS_ENV, str(folder))
    with pytest.raises(WeightsError) as error:
        inception_transfer(num_classes=2)
    assert str(damaged) in str(error.value) and "half-finished download" in str(error.value)


def test_weights_from_the_named_folder_are_loaded_into_the_base(offline_hub, monkeypatch):
    torch.manual_seed(1)
    stock = inception_v3(weights=None, aux_logits=True, init_weights=False)
    draft = offline_hub / "draft.pth"
    torch.save(stock.state_dict(), draft)
    digest = hashlib.sha256(draft.read_bytes()).hexdigest()
    folder = offline_hub / "weights"
    folder.mkdir()
    name = f"inception_v3_test-{digest[:8]}.pth"
    draft.rename(folder / name)
    monkeypatch.setattr(pretrained, "WEIGHTS_FILE", name)
    monkeypatch.setenv(pretrained.WEIGHTS_ENV, str(folder))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedWeightsUnavailable)
        model, loaded = inception_transfer(num_classes=2)
    assert loaded is True
    assert torch.equal(model.base.Conv2d_1a_3x3.conv.weight, stock.Conv2d_1a_3x3.conv.weight)
    assert torch.equal(model.base.Mixed_7c.branch1x1.bn.running_var,
                       stock.Mixed_7c.branch1x1.bn.running_var)
    assert not any(p.requires_grad for p in model.base.parameters())


# --------------------------------------------------------------------------------------
# The from-scratch Rock-Paper-Scissors model learns on real data
# --------------------------------------------------------------------------------------

TEST_ACC_NEEDED = 0.60  # chance is 1/3


@pytest.mark.slow
@pytest.mark.parametrize("precision", LEARNING_PRECISIONS)
def test_REAL_DATA_LEARNING_rps_from_scratch_beats_chance(real_data, capsys, precision):
    real_data("rps/test")
    train, test = helpers.load_rock_paper_scissors(size=64)
    assert (len(train), len(test)) == (2520, 372)
    train = train.subset(per_class=200, seed=0)
    helpers.seed_everything(0)
    model = RPSNet(num_classes=3, image_size=64)
    start = time.perf_counter()
    history = helpers.fit(model, helpers.InMemoryLoader(train, 32, shuffle=True),
                          helpers.InMemoryLoader(test, 128), epochs=3, verbose=False,
                          precision=helpers.choose_precision("cpu", precision))
    with capsys.disabled():
        print(f"\n[real-data learning check, {precision}] RPSNet on Rock-Paper-Scissors (600 "
              f"training images at 64 px): test accuracy by epoch "
              f"{[round(a, 3) for a in history.val_acc]} (needs >= {TEST_ACC_NEEDED}), "
              f"{time.perf_counter() - start:.0f} s")
    assert history.val_acc[-1] >= TEST_ACC_NEEDED, history
    assert history.train_loss[-1] < history.train_loss[0], history
