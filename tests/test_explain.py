"""helpers.explain: Grad-CAM and occlusion, the heat-maps of notebook 09 and the upload widget.

Grad-CAM is checked against a reference computed with torch.autograd.grad directly (no hooks);
on a synthetic task whose class evidence sits in one known quadrant, a small trained CNN's
Grad-CAM and occlusion maps must both peak there, for both classes of a one-logit model too;
the model is left as found (hooks, modes, requires_grad, .grad); a frozen base still gets a map;
bad input gets a message that says what to change.
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.explain import class_scores, grad_cam, occlusion, scaled, target_layer
from helpers.models import FashionCNN, FashionDense, HorsesHumansCNN, RPSNet
from helpers.transfer import TransferNet

SIDE = 32  # the synthetic images: 3 x 32 x 32, four 16 x 16 quadrants
QUADRANTS = {"top-left": (0, 0), "top-right": (0, 1), "bottom-left": (1, 0),
             "bottom-right": (1, 1)}


class SmallCNN(nn.Module):
    """Two conv blocks (``features``: 32 maps of 8 x 8 from 32 x 32) and a dense layer."""

    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2),
                                        nn.Linear(32 * 8 * 8, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def reference_grad_cam(model: SmallCNN, images: torch.Tensor, classes: torch.Tensor):
    """Grad-CAM without hooks: run the two halves of the model by hand and ask autograd for
    the gradient of each image's class score with respect to the features between them."""
    model.eval()
    activations = model.features(images).detach().requires_grad_()
    logits = model.classifier(activations)
    if logits.shape[1] == 1:  # one logit: class 1 is the logit, class 0 minus the logit
        scores = torch.where(classes == 1, logits[:, 0], -logits[:, 0])
    else:
        scores = logits[torch.arange(len(classes)), classes]
    (gradients,) = torch.autograd.grad(scores.sum(), activations)
    cams = F.relu((gradients.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1))
    cams = F.interpolate(cams[:, None], size=images.shape[-2:], mode="bilinear")[:, 0]
    return cams / cams.flatten(1).amax(dim=1).clamp(min=1e-12)[:, None, None]


@pytest.mark.parametrize("outputs", [1, 3])
def test_grad_cam_equals_the_autograd_reference(outputs):
    torch.manual_seed(0)
    model = SmallCNN(outputs)
    images = torch.randn(6, 3, SIDE, SIDE)
    classes = torch.tensor([0, 1, 1, 0, 1, 0]) if outputs == 1 else torch.tensor([0, 1, 2] * 2)
    ours = grad_cam(model, images, classes)
    expected = reference_grad_cam(model, images, classes)
    assert ours.shape == (6, SIDE, SIDE) and ours.amax() == pytest.approx(1.0)
    assert torch.allclose(ours, expected, atol=1e-6), (ours - expected).abs().max()
    # the default class is the predicted one; one image [C, H, W] gives one map [H, W]
    with torch.no_grad():
        logits = model(images[:1])
    predicted = (logits[:, 0] > 0).long() if outputs == 1 else logits.argmax(1)
    assert torch.allclose(grad_cam(model, images[0]), reference_grad_cam(
        model, images[:1], predicted)[0], atol=1e-6)


def test_a_one_logit_models_class_scores_are_the_logit_and_minus_the_logit():
    logits = torch.tensor([[2.5], [-1.0]])
    assert class_scores(logits, torch.tensor([1, 1])).tolist() == [2.5, -1.0]
    assert class_scores(logits, torch.tensor([0, 0])).tolist() == [-2.5, 1.0]


# --- the synthetic task: the evidence in one known quadrant --------------------------------

def synthetic_images(count: int, quadrant: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise; class 1 has a bright plus (+) and class 0 a bright cross (x), 7 x 7, somewhere in
    ``quadrant``; every image also has a dark 5 x 5 square in one of the other three quadrants
    (something else to see, which says nothing about the class)."""
    generator = torch.Generator().manual_seed(seed)
    images = 0.3 * torch.randn(count, 3, SIDE, SIDE, generator=generator)
    labels = torch.randint(0, 2, (count,), generator=generator)
    plus = torch.zeros(7, 7)
    plus[3, :], plus[:, 3] = 1, 1
    cross = torch.eye(7).maximum(torch.eye(7).flip(1))
    others = [q for q in QUADRANTS.values() if q != QUADRANTS[quadrant]]
    for image, label in zip(images, labels):
        row, col = QUADRANTS[quadrant]
        top, left = (row * 16 + int(torch.randint(1, 9, (), generator=generator)),
                     col * 16 + int(torch.randint(1, 9, (), generator=generator)))
        image[:, top:top + 7, left:left + 7] += 2.0 * (plus if label == 1 else cross)
        row, col = others[int(torch.randint(0, 3, (), generator=generator))]
        top, left = (row * 16 + int(torch.randint(2, 10, (), generator=generator)),
                     col * 16 + int(torch.randint(2, 10, (), generator=generator)))
        image[:, top:top + 5, left:left + 5] -= 2.0
    return images, labels


def hottest_quadrant(maps: torch.Tensor) -> list[str]:
    """For each map [H, W], the quadrant with the most heat in it."""
    names = list(QUADRANTS)
    sums = maps.clamp(min=0).unflatten(1, (2, 16)).unflatten(3, (2, 16)).sum(dim=(2, 4))
    return [names[int(i)] for i in sums.flatten(1).argmax(dim=1)]


@functools.lru_cache
def train_small_cnn(quadrant: str, outputs: int) -> SmallCNN:
    """A SmallCNN trained on the synthetic task (100 steps of 64; once per test session)."""
    torch.manual_seed(0)
    model = SmallCNN(outputs)
    images, labels = synthetic_images(1024, quadrant, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(100):
        batch = torch.arange(step * 64, step * 64 + 64) % len(images)
        logits = model(images[batch])
        if outputs == 1:
            loss = F.binary_cross_entropy_with_logits(logits[:, 0], labels[batch].float())
        else:
            loss = F.cross_entropy(logits, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.mark.parametrize(("quadrant", "outputs"), [("top-left", 1), ("bottom-right", 2)])
def test_grad_cam_and_occlusion_peak_where_the_evidence_is(quadrant, outputs):
    model = train_small_cnn(quadrant, outputs)
    images, labels = synthetic_images(64, quadrant, seed=2)  # images it never trained on
    with torch.no_grad():
        logits = model(images)
    predicted = (logits[:, 0] > 0).long() if outputs == 1 else logits.argmax(1)
    assert (predicted == labels).float().mean() >= 0.95, "the small CNN did not learn the task"
    for name, maps in (("Grad-CAM", grad_cam(model, images, labels)),
                       ("occlusion", occlusion(model, images, labels, patch=8, stride=4))):
        found = hottest_quadrant(maps)
        for label in (0, 1):  # both classes: for a one-logit model, class 0 is minus the logit
            mine = [f for f, y in zip(found, labels.tolist()) if y == label]
            share = sum(f == quadrant for f in mine) / len(mine)
            assert share >= 0.9, f"{name}, class {label}: {share:.0%} peak in the {quadrant}"


class BrightOrDark(nn.Module):
    """A one-logit network set by hand: ``features`` gives two maps, the brightness
    ReLU(x) and the darkness ReLU(-x) of a grey image; the logit is the mean of the first minus
    the mean of the second. Its evidence for class 1 is bright, for class 0 dark."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)
        return (maps[:, 0] - maps[:, 1]).mean(dim=(1, 2))[:, None]


def test_a_one_logit_model_gets_the_right_map_for_each_class():
    """Class 1's score is the logit, class 0's minus the logit: with a bright square in one
    quadrant and a dark one in another, each class's map (and occlusion) finds its own."""
    image = torch.zeros(1, SIDE, SIDE)
    image[:, 3:10, 4:11] = 1.0  # bright, top-left: evidence for class 1
    image[:, 20:27, 22:29] = -1.0  # dark, bottom-right: evidence for class 0
    model = BrightOrDark()
    for label, quadrant in ((1, "top-left"), (0, "bottom-right")):
        heat = grad_cam(model, image, class_index=label)
        assert hottest_quadrant(heat[None]) == [quadrant], (label, heat)
        other = heat[20:27, 22:29] if label == 1 else heat[3:10, 4:11]
        assert other.max() < 0.05  # nothing on the other class's square
        drops = occlusion(model, image, class_index=label, patch=8, stride=4)
        assert hottest_quadrant(drops[None]) == [quadrant], (label, drops)


def test_occlusion_measures_the_drop_in_probability():
    """A model whose class-1 probability is the mean brightness of the top-left 8 x 8 pixels
    (through a sigmoid): covering only those pixels drops it; covering elsewhere does not."""
    class TopLeft(nn.Module):
        def forward(self, x):
            return (10 * x[:, :, :8, :8].mean(dim=(1, 2, 3)))[:, None]

    image = torch.ones(3, 16, 16)
    drops = occlusion(TopLeft(), image, class_index=1, patch=8, stride=8)
    assert drops[:8, :8].mean() == pytest.approx(torch.sigmoid(torch.tensor(10.0)) - 0.5)
    assert drops[8:, 8:].abs().max() == 0 and drops.shape == (16, 16)


@pytest.mark.parametrize("label, sign", [(1, 1), (0, -1)])
def test_occlusion_by_score_sees_what_a_saturated_probability_hides(label, sign):
    """A model sure of its class (logit +-1100, of which 1000 from the top-left 8 x 8 pixels):
    covering that corner cannot move a probability stuck at 1, but the class's score (+logit
    for class 1, -logit for class 0) drops by 1000 there, and by nothing elsewhere."""
    class TopLeft(nn.Module):
        def forward(self, x):
            return (sign * (1000 * x[:, :, :8, :8].mean(dim=(1, 2, 3)) + 100))[:, None]

    image = torch.ones(3, 16, 16)
    by_probability = occlusion(TopLeft(), image, class_index=label, patch=8, stride=8)
    by_score = occlusion(TopLeft(), image, class_index=label, patch=8, stride=8, measure="score")
    assert by_probability.abs().max() == 0
    assert by_score[:8, :8].mean() == pytest.approx(1000.0)
    assert by_score[8:, 8:].abs().max() == 0
    with pytest.raises(ValueError, match='"probability" or "score"'):
        occlusion(TopLeft(), image, measure="logit")


# --- the model is left as it was found -----------------------------------------------------

def model_state(model: nn.Module) -> dict:
    return {"modes": [m.training for m in model.modules()],
            "requires_grad": [p.requires_grad for p in model.parameters()],
            "grads": [p.grad is None for p in model.parameters()],
            "hooks": [len(h) for m in model.modules() for h in (
                m._forward_hooks, m._forward_pre_hooks, m._backward_hooks,
                m._backward_pre_hooks)]}


def test_hooks_modes_and_flags_are_left_as_found():
    torch.manual_seed(0)
    model = SmallCNN(3)
    model.train()
    model.classifier[1].eval()  # one module in another mode than its parent
    model.features[0].requires_grad_(False)  # partly frozen
    model.features.register_forward_hook(lambda *args: None)  # the learner's own hook stays
    before = model_state(model)
    images = torch.randn(2, 3, SIDE, SIDE)
    for _ in range(3):
        grad_cam(model, images)
        occlusion(model, images[0])
    with pytest.raises(ValueError, match="out of range"):  # a failure half-way, after forward
        grad_cam(model, images, class_index=7)
    assert model_state(model) == before
    assert model.training and not model.classifier[1].training
    # eval mode while it computed: the same map twice, dropout or not
    assert torch.equal(grad_cam(model, images), grad_cam(model, images))


def test_a_frozen_base_still_gets_its_map():
    model = copy.deepcopy(train_small_cnn("top-left", 1))
    images, labels = synthetic_images(8, "top-left", seed=3)
    trainable = grad_cam(model, images, labels)
    model.features.requires_grad_(False)  # as TransferNet freezes its base
    frozen = grad_cam(model, images, labels)
    assert torch.allclose(frozen, trainable, atol=1e-6) and frozen.amax() == pytest.approx(1)
    with torch.inference_mode():  # called where no gradient is recorded at all
        assert torch.allclose(grad_cam(model, images, labels), trainable, atol=1e-6)
    assert all(not p.requires_grad for p in model.features.parameters())


@pytest.mark.parametrize(("base", "size", "layer"), [("efficientnet_lite0", 224, "bn2"),
                                                     ("inception_v3", 299, "Mixed_7c")])
def test_transfer_models_get_a_map_from_the_last_stage_of_their_frozen_base(base, size, layer):
    torch.manual_seed(0)
    model = TransferNet(num_classes=3, hidden=16, base=base)  # untrained: layers and flags only
    assert target_layer(model) is getattr(model.base, layer)
    before = model_state(model)
    heat = grad_cam(model, torch.randn(3, size, size), class_index=2)
    assert heat.shape == (size, size) and torch.isfinite(heat).all()
    assert model_state(model) == before


def test_a_pretrained_base_gives_a_map_of_a_real_photo(real_images):
    from helpers.pretrained import WeightsUnavailableError
    from helpers.transfer import pretrained_transfer

    try:
        model = pretrained_transfer("efficientnet_lite0", num_classes=2)
    except WeightsUnavailableError as error:
        pytest.skip(str(error))
    photos = real_images("horse-or-human/validation", 224, per_class=1)
    pixels = (photos.images.float() / 255 - 0.5) / 0.5
    heat = grad_cam(model, pixels, class_index=1)
    assert heat.shape == (2, 224, 224) and (heat.flatten(1).amax(1) == 1).all()
    assert (heat.flatten(1).std(1) > 0.05).all()  # not a flat map


def test_the_layers_grad_cam_picks_in_our_models():
    assert target_layer(RPSNet()) is not None and isinstance(target_layer(RPSNet()),
                                                             nn.Sequential)
    hoh = HorsesHumansCNN()
    assert target_layer(hoh) is hoh.features
    fashion = FashionCNN()
    assert target_layer(fashion) is fashion.block2[0]  # no `features`: its last convolution
    assert grad_cam(fashion, torch.randn(1, 28, 28)).shape == (28, 28)


# --- bad input, clear messages --------------------------------------------------------------

@pytest.mark.parametrize(("images", "message"), [
    (torch.randn(128, 128), r"one image \[C, H, W\] or a batch \[N, C, H, W\].*shape \(128, 128\)"),
    (torch.zeros(3, 128, 128, dtype=torch.uint8), "float pixels, normalised.*torch.uint8"),
    (torch.randn(3, 150, 150), r"could not run on images of shape \(3, 150, 150\).*its transform"),
    (torch.randn(1, 128, 128), r"could not run on images of shape \(1, 128, 128\)"),
    ([[0.0]], "not a list"),
])
def test_images_of_the_wrong_shape_or_kind_are_named(images, message):
    for explain in (grad_cam, occlusion):
        with pytest.raises(ValueError, match=message):
            explain(RPSNet(), images)


def test_a_model_without_a_convolution_is_told_what_to_do():
    with pytest.raises(ValueError, match=r"FashionDense has no convolutional layer.*occlusion"):
        grad_cam(FashionDense(), torch.randn(1, 28, 28))
    assert occlusion(FashionDense(), torch.randn(1, 28, 28)).shape == (28, 28)  # it works
    dense = FashionDense()
    with pytest.raises(ValueError, match=r"maps \[N, C, h, w\]; Linear gives"):
        grad_cam(dense, torch.randn(1, 28, 28), layer=dense.layers[1])
    with pytest.raises(ValueError, match="never ran Linear: pass a layer its forward pass uses"):
        grad_cam(dense, torch.randn(1, 28, 28), layer=nn.Linear(2, 2))


def test_class_indices_out_of_range_are_named():
    with pytest.raises(ValueError, match="class_index 3 is out of range: this model has 3 "
                                         "classes, numbered 0 to 2"):
        grad_cam(RPSNet(), torch.randn(3, 128, 128), class_index=3)
    with pytest.raises(ValueError, match="class_index -1 is out of range"):
        occlusion(RPSNet(), torch.randn(3, 128, 128), class_index=-1)
    with pytest.raises(ValueError, match="this model has 2 classes, numbered 0 to 1"):
        grad_cam(HorsesHumansCNN(), torch.randn(3, 150, 150), class_index=2)  # one logit: 2
    with pytest.raises(ValueError, match=r"one class index, or one per image \(2\), not 3"):
        grad_cam(RPSNet(), torch.randn(2, 3, 128, 128), class_index=[0, 1, 2])
    with pytest.raises(ValueError, match="stride 1 to patch"):
        occlusion(RPSNet(), torch.randn(3, 128, 128), patch=16, stride=32)


def test_scaled_maps_keep_their_shape_and_an_empty_map_stays_empty():
    maps = torch.stack([torch.zeros(4, 4), torch.arange(16.0).view(4, 4) - 4])
    out = scaled(maps)
    assert out[0].eq(0).all() and out[1].max() == 1 and out[1].min() == 0
