"""The models the notebooks train. Every model returns logits: the loss owns the activation.

Their parts are named after what a notebook does with them, and kept so because saved models
and notebook 02's own copies of these classes use the same names: ``FashionDense.layers`` (one
stack, nothing to pick out), ``FashionCNN.block1``/``block2`` (notebook 02 shows each block's
feature maps) and ``classifier``, and ``features``/``classifier`` for the two larger CNNs (the
convolutional part and the dense part, as torchvision names them; Grad-CAM hooks ``features``).
"""

from __future__ import annotations

from itertools import chain

import torch
from torch import nn


class FashionDense(nn.Module):
    """The dense baseline for Fashion-MNIST: 784 pixels -> 128 ReLU units -> 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class FashionCNN(nn.Module):
    """Two conv + max-pool blocks, then 128 dense units and 10 logits (333,898 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(  # 1 x 28 x 28 -> 64 x 14 x 14
            nn.Conv2d(1, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(  # 64 x 14 x 14 -> 64 x 6 x 6 (no padding: 14 -> 12)
            nn.Conv2d(64, 64, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 6 * 6, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.block2(self.block1(x)))


class HorsesHumansCNN(nn.Module):
    """Three conv + max-pool blocks on 3 x 150 x 150 images, one logit out (10,641,441 params).

    The single output is a logit: sigmoid(logit) is the probability of class 1 ("humans").
    Train it with BCEWithLogitsLoss, which applies the sigmoid in a numerically safe way.
    """

    def __init__(self, dropout: float = 0.25) -> None:
        super().__init__()
        self.config = {"dropout": dropout}  # what save_model stores to rebuild it
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 75 x 75
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 37 x 37
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 64 x 18 x 18
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 18 * 18, 512), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(512, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class RPSNet(nn.Module):
    """A small CNN for Rock-Paper-Scissors, trained from scratch (585,315 parameters at 128 px).

    Four blocks of conv 3x3 -> ReLU -> 2x2 max pool with 16, 32, 64 and 64 filters halve the
    image four times (128 -> 8), then flatten -> dropout -> 128 ReLU units -> ``num_classes``
    logits (for CrossEntropyLoss). ``image_size`` sizes the dense layer; it must be a multiple
    of 16.
    """

    def __init__(self, num_classes: int = 3, image_size: int = 128, width: int = 16,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"RPSNet needs an image size that is a multiple of 16, "
                             f"not {image_size}")
        self.config = {"num_classes": num_classes, "image_size": image_size, "width": width,
                       "dropout": dropout}
        blocks, channels = [], 3
        for out in (width, width * 2, width * 4, width * 4):
            blocks += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*blocks)
        side = image_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels * side * side, 128), nn.ReLU(),
            nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def model_device(model: nn.Module, device: torch.device | str | None = None) -> torch.device:
    """Where ``model`` runs: the device of its weights (first parameter or buffer), or
    ``device`` (default the CPU) for a model that has no weights at all.

    The helpers that run a model move each batch there; ``helpers.safety.device_for`` refuses a
    ``device`` argument that names another one.
    """
    for tensor in chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device(device if device is not None else "cpu")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Return (trainable, frozen) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return trainable, frozen


@torch.inference_mode()
def feature_maps(model: nn.Module, image: torch.Tensor,
                 layers: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Run one image [C, H, W] through ``model`` (on the model's device, wherever the image
    is) and return the output of each named layer, on the CPU."""
    captured: dict[str, torch.Tensor] = {}
    hooks = [layer.register_forward_hook(
        lambda _m, _i, out, name=name: captured.__setitem__(name, out[0].detach().cpu()))
        for name, layer in layers.items()]
    try:
        model.eval()
        model(image.unsqueeze(0).to(model_device(model)))
    finally:
        for hook in hooks:
            hook.remove()
    return captured
