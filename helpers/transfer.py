"""Transfer learning with torchvision's Inception v3: weights, a new head, cached features.

The pretrained weights are looked for, in order, in the folder named by CONVNET_WEIGHTS, in
torch's own cache (``torch.hub.get_dir()/checkpoints``), and then downloaded once into that
cache. A file whose SHA-256 does not start with the prefix in its name (torch's convention) is
a half-finished or wrong download, and is reported by name. When the weights cannot be had at
all, ``inception_transfer`` warns loudly and returns the same model with untrained weights, so
the code still runs; it never pretends the weights were loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

import torch
from torch import nn
from torchvision.models import Inception_V3_Weights, inception_v3

from helpers.preprocess import ImageTransform

WEIGHTS_ENV = "CONVNET_WEIGHTS"
WEIGHTS = Inception_V3_Weights.DEFAULT
WEIGHTS_FILE = WEIGHTS.url.rsplit("/", 1)[-1]  # inception_v3_google-0cc3c7bd.pth


class WeightsError(RuntimeError):
    """A weights file exists but is damaged or is not the expected one."""


class PretrainedWeightsUnavailable(UserWarning):
    """The pretrained weights could not be found or downloaded."""


def inception_preprocessing() -> ImageTransform:
    """Inception v3's own input: 299 x 299 pixels, normalised with ImageNet's mean and std."""
    preset = WEIGHTS.transforms()
    return ImageTransform(size=preset.crop_size[0], mean=tuple(preset.mean), std=tuple(preset.std))


def check_weights_file(path: Path) -> Path:
    """Check ``path`` against the SHA-256 prefix in its file name; raise WeightsError if not."""
    expected = re.search(r"-([0-9a-f]{8,})\.", path.name).group(1)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if not digest.hexdigest().startswith(expected):
        raise WeightsError(
            f"{path} ({path.stat().st_size:,} bytes) is not the Inception v3 weights file: its "
            f"SHA-256 does not start with {expected}. It is probably a half-finished download. "
            f"Delete it and run again, or download {WEIGHTS.url} yourself.")
    return path


def find_weights(download: bool = True) -> Path | None:
    """Return a checked path to the pretrained weights, or None if they cannot be had."""
    folder = os.environ.get(WEIGHTS_ENV, "").strip()
    cache = Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE
    candidates = ([Path(folder).expanduser() / WEIGHTS_FILE] if folder else []) + [cache]
    for path in candidates:
        if path.is_file():
            return check_weights_file(path)
    if not download:
        return None
    try:  # downloads to cache with a progress bar, through a temporary file
        torch.hub.load_state_dict_from_url(WEIGHTS.url, progress=True, check_hash=True)
    except RuntimeError as error:  # torch's own hash check failed
        raise WeightsError(f"The download of {WEIGHTS.url} was damaged: {error}") from None
    except OSError:  # no network, DNS failure, refused, HTTP error
        return None
    return check_weights_file(cache)


class TransferNet(nn.Module):
    """Inception v3 with every pretrained layer frozen and a new head for ``num_classes``.

    The head is Linear(2048, hidden) -> ReLU -> Linear(hidden, num_classes), with optional
    dropout before and after the hidden layer. The frozen base always runs in eval mode: its
    batch-norm layers keep ImageNet's statistics and its own dropout stays off, so it computes
    the same features in training and evaluation (which is also what makes caching them valid).
    """

    def __init__(self, num_classes: int = 2, hidden: int = 1024, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = {"num_classes": num_classes, "hidden": hidden, "dropout": dropout}
        # transform_input=True is what the pretrained weights expect (torchvision forces it).
        base = inception_v3(weights=None, aux_logits=True, init_weights=False,
                            transform_input=True)
        # The auxiliary classifier only helps train the lower layers, which stay frozen here.
        base.AuxLogits, base.aux_logits = None, False
        in_features = base.fc.in_features
        base.fc = nn.Identity()  # the base now returns 2048 pooled features per image
        self.base = base
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
    """Build a TransferNet and load ImageNet weights into its base.

    Returns (model, loaded): ``loaded`` is False when the weights could not be had, in which
    case a PretrainedWeightsUnavailable warning says so and the base keeps untrained weights.
    """
    model = TransferNet(num_classes, hidden, dropout)
    path = find_weights() if pretrained else None
    if path is None:
        if pretrained:
            warnings.warn(
                f"PRETRAINED WEIGHTS NOT AVAILABLE: {WEIGHTS_FILE} is not in "
                f"${WEIGHTS_ENV} or {Path(torch.hub.get_dir()) / 'checkpoints'} and could not be "
                f"downloaded from {WEIGHTS.url}. The model runs with UNTRAINED weights: its "
                "accuracy means nothing about transfer learning.",
                PretrainedWeightsUnavailable, stacklevel=2)
        return model, False
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "fc."))}
    model.base.load_state_dict(state)  # strict: every base weight must be there
    return model, True


@torch.inference_mode()
def extract_features(base: nn.Module, loader, device: torch.device | str) -> torch.Tensor:
    """Run the frozen ``base`` once over ``loader`` (in order); return the features [N, D]."""
    from helpers.training import _autocast

    device = torch.device(device)
    base.eval()
    features = []
    for images, _ in loader:
        images = images.to(device, non_blocking=True).contiguous(
            memory_format=torch.channels_last)
        with _autocast(device):
            features.append(base(images).float())
    return torch.cat(features)


class TensorLoader:
    """Batches of (features, labels) held in memory, optionally shuffled with a seed."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 32,
                 shuffle: bool = False, seed: int = 0) -> None:
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels.")
        self.features, self.labels = features, labels.to(features.device)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = torch.Generator(device=features.device).manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = (torch.randperm(n, device=self.features.device, generator=self.generator)
                 if self.shuffle else torch.arange(n, device=self.features.device))
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            yield self.features[index], self.labels[index]


def untrained_warning(consequence: str):
    """A red notebook banner saying the pretrained weights are missing, then ``consequence``."""
    from IPython.display import HTML

    return HTML('<div style="border:3px solid #c00;padding:10px;background:#fee;font-size:1.1em">'
                f"<b>⚠ Pretrained weights are NOT available here.</b> {consequence}</div>")
