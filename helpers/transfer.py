"""Transfer learning: a pretrained base, frozen, with a new head; the base's features cached.

Two bases: ``"efficientnet_lite0"`` (what the notebooks use: its weights come with pip) and
``"inception_v3"`` (the chapter's, and ``TransferNet``'s default so that its code reads like the
chapter's). Where their weights come from is ``helpers.pretrained``. ``pretrained_transfer``
refuses to build a model whose weights cannot be had (no lesson result ever comes from an
untrained base); ``inception_transfer`` keeps the chapter's code path runnable without them,
with a loud warning.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn
from torchvision.models import inception_v3

from helpers.data import Batches
from helpers.precision import choose_precision
from helpers.preprocess import ImageTransform
from helpers.pretrained import (
    WEIGHTS,
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    PretrainedWeightsUnavailable,
    WeightsUnavailableError,
    efficientnet_lite0,
    find_weights,
    inception_state_dict,
    load_lite0_weights,
)
from helpers.safety import device_for, to_device

BASES = ("efficientnet_lite0", "inception_v3")


def preprocessing_for(base: str) -> ImageTransform:
    """The input a base was trained on: its size, mean and standard deviation."""
    if base == "efficientnet_lite0":  # TensorFlow's Lite models scale pixels to -1...1
        return ImageTransform(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    if base == "inception_v3":
        return inception_preprocessing()
    raise unknown_base(base)


def unknown_base(base: str) -> ValueError:
    """The error for a base that is neither of ``BASES``."""
    return ValueError(f"Unknown base {base!r}: choose one of {', '.join(BASES)}.")


def inception_preprocessing() -> ImageTransform:
    """Inception v3's own input: 299 x 299 pixels, normalised with ImageNet's mean and std."""
    preset = WEIGHTS.transforms()
    return ImageTransform(size=preset.crop_size[0], mean=tuple(preset.mean), std=tuple(preset.std))


def build_base(base: str) -> tuple[nn.Module, int]:
    """An untrained base network that returns pooled features, and how many per image."""
    if base == "efficientnet_lite0":
        return efficientnet_lite0(pretrained=False), 1280
    if base != "inception_v3":
        raise unknown_base(base)
    # transform_input=True is what the pretrained weights expect (torchvision forces it).
    network = inception_v3(weights=None, aux_logits=True, init_weights=False,
                           transform_input=True)
    # The auxiliary classifier only helps train the lower layers, which stay frozen here.
    network.AuxLogits, network.aux_logits = None, False
    features = network.fc.in_features
    network.fc = nn.Identity()  # the base now returns 2048 pooled features per image
    return network, features


class TransferNet(nn.Module):
    """A pretrained base with every layer frozen and a new head for ``num_classes``.

    ``base`` is "efficientnet_lite0" or "inception_v3" (built here untrained: the weights are
    loaded by ``pretrained_transfer`` or from a saved model). The head is Linear(features,
    hidden) -> ReLU -> Linear(hidden, num_classes), with optional dropout before and after the
    hidden layer. The frozen base always runs in eval mode: its batch-norm layers keep
    ImageNet's statistics and its own dropout stays off, so it computes the same features in
    training and evaluation (which is also what makes caching them valid).
    """

    def __init__(self, num_classes: int = 2, hidden: int = 1024, dropout: float = 0.0,
                 base: str = "inception_v3") -> None:
        super().__init__()
        self.config = {"num_classes": num_classes, "hidden": hidden, "dropout": dropout,
                       "base": base}
        self.base, in_features = build_base(base)
        self.head = make_head(in_features, num_classes, hidden, dropout)
        self.base.requires_grad_(False)

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        self.base.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.base(x))


def make_head(in_features: int, num_classes: int, hidden: int = 1024,
              dropout: float = 0.0) -> nn.Sequential:
    """The new classifier: [Dropout] -> Linear -> ReLU -> [Dropout] -> Linear."""
    layers: list[nn.Module] = []
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(in_features, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, num_classes))
    return nn.Sequential(*layers)


def inception_transfer(num_classes: int, hidden: int = 1024, dropout: float = 0.0,
                       pretrained: bool = True) -> tuple[TransferNet, bool]:
    """Build the chapter's Inception v3 TransferNet and load ImageNet weights into its base.

    Returns (model, loaded): ``loaded`` is False when the weights could not be had, in which
    case a PretrainedWeightsUnavailable warning says so and the base keeps untrained weights
    (use it to look at shapes and code, never for a result).
    """
    model = TransferNet(num_classes, hidden, dropout, base="inception_v3")
    if not pretrained:
        return model, False
    try:
        load_imagenet_weights(model.base, "inception_v3")
    except WeightsUnavailableError:
        warnings.warn(
            f"PRETRAINED WEIGHTS NOT AVAILABLE: {WEIGHTS_FILE} is not in "
            f"${WEIGHTS_ENV} or {Path(torch.hub.get_dir()) / 'checkpoints'} and could not be "
            f"downloaded from {WEIGHTS.url}. The model runs with UNTRAINED weights: its "
            "accuracy means nothing about transfer learning.",
            PretrainedWeightsUnavailable, stacklevel=2)
        return model, False
    return model, True


def load_imagenet_weights(network: nn.Module, base: str) -> None:
    """Load ``base``'s ImageNet weights into ``network``, a base made by ``build_base``.

    Raises WeightsUnavailableError when the weights cannot be had: a frozen untrained base
    would teach nothing.
    """
    if base == "efficientnet_lite0":
        load_lite0_weights(network)
        return
    if base != "inception_v3":
        raise unknown_base(base)
    path = find_weights()
    if path is None:
        raise WeightsUnavailableError(
            f"Inception v3's ImageNet weights are not available: {WEIGHTS_FILE} is not in "
            f"${WEIGHTS_ENV} or torch's cache, and {WEIGHTS.url} could not be downloaded. "
            "Use base='efficientnet_lite0' (its weights come with pip), or put the file in "
            f"the folder named by ${WEIGHTS_ENV}.")
    network.load_state_dict(inception_state_dict(path))  # strict: every base weight


def pretrained_transfer(base: str, num_classes: int, hidden: int = 1024,
                        dropout: float = 0.0) -> TransferNet:
    """A TransferNet whose frozen ``base`` holds its ImageNet weights, ready to train its head.

    Raises WeightsUnavailableError when the weights cannot be had (``load_imagenet_weights``).
    """
    if base not in BASES:
        raise unknown_base(base)
    model = TransferNet(num_classes, hidden, dropout, base=base)
    load_imagenet_weights(model.base, base)
    return model


@torch.inference_mode()
def extract_features(base: nn.Module, loader, device: torch.device | str | None = None,
                     mixed_precision: bool = True, progress: bool = True) -> torch.Tensor:
    """Run the frozen ``base`` once over ``loader`` (in order); return the features [N, D].

    It runs where the base's weights are (``device`` is not needed; checked if given), in the
    device's precision (``helpers.precision``: 16-bit on a GPU or a CPU with bf16 instructions):
    bf16 keeps about 3 significant digits, so the features then differ from fp32 ones in the
    third digit (compare with a tolerance, or pass ``mixed_precision=False``). ``progress``
    shows a bar while it runs. The features are fp32 numbers, on the base's device.
    """
    from tqdm.auto import tqdm

    device = device_for(base, device)
    precision = choose_precision(device)
    base.eval()
    features = []
    for images, labels in tqdm(loader, desc="frozen features", unit="batch", leave=False,
                               disable=not progress):
        images, _ = to_device(images, labels, device)
        with precision.autocast() if mixed_precision else nullcontext():
            features.append(base(images).float())
    return torch.cat(features)


class TensorLoader(Batches):
    """Batches of (features, labels) held in memory, optionally shuffled with a seed."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 32,
                 shuffle: bool = False, seed: int = 0) -> None:
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels.")
        super().__init__(len(labels), batch_size, shuffle, features.device, seed)
        self.features, self.labels = features, labels.to(features.device)

    def _batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]
