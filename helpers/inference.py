"""From a photo to an answer: open any real-world image safely, preprocess it, classify it,
and save or reload a trained model with everything needed to use it."""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn
from torchvision.transforms.v2 import functional as TF

MAX_PIXELS = 60_000_000  # ~ a 60-megapixel photo; anything larger is refused, not decoded


class ImageError(ValueError):
    """The input is not an image we can classify; the message says what is wrong."""


def _read_bytes(image: str | Path | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise ImageError(f"{path} is not a file.")
        return path.read_bytes(), path.name
    return bytes(image), "this file"


def open_image(image: str | Path | bytes | Image.Image) -> Image.Image:
    """Return an 8-bit RGB PIL image from a path, raw bytes or a PIL image, upright per EXIF.

    Copes with RGBA and palette images (composited on white), greyscale, CMYK and 16-bit
    images. Raises ImageError for anything that is not a usable image.
    """
    if isinstance(image, Image.Image):
        picture, name = image, "the image"
    else:
        data, name = _read_bytes(image)
        if not data:
            raise ImageError(f"{name} is empty (0 bytes).")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                picture = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            start = data[:12]
            raise ImageError(f"{name} is not an image file we can read (it starts with "
                             f"{start!r}, which is no image format Pillow knows).") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name} claims an absurd number of pixels (a 'decompression "
                             f"bomb'); refusing to decode it.") from None
    width, height = picture.size
    if width * height > MAX_PIXELS or width == 0 or height == 0:
        raise ImageError(f"{name} claims {width} x {height} pixels: too large (or empty) to "
                         f"classify. Resize it below {MAX_PIXELS // 1_000_000} megapixels.")
    try:
        picture.load()
        picture = ImageOps.exif_transpose(picture)
        return _to_rgb(picture)
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{name} is damaged or truncated ({error}).") from None


def _to_rgb(picture: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, scaling 16- and 32-bit values to 0-255."""
    if picture.mode in ("RGBA", "LA", "P", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if picture.mode.startswith("I") or picture.mode == "F":
        values = np.asarray(picture, dtype=np.float64)
        top = 65535.0 if picture.mode.startswith("I;16") or values.max() > 255 else 255.0
        if picture.mode == "F":
            low, high = values.min(), values.max()
            values, top = (values - low) / max(high - low, 1e-12), 1.0
        grey = np.clip(values / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return picture.convert("RGB")


@dataclass(frozen=True)
class ImageTransform:
    """Preprocessing for prediction: resize to size x size, scale to (x/255 - mean) / std.

    It matches what ``load_image_folder`` + ``InMemoryLoader`` do to the training images, and
    it is plain data, so it can be saved beside the weights.
    """

    size: int
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)

    def __call__(self, picture: Image.Image) -> torch.Tensor:
        pixels = TF.resize(TF.pil_to_tensor(picture), [self.size, self.size], antialias=True)
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (pixels.float() / 255 - mean) / std


@torch.inference_mode()
def predict_image(model: nn.Module, image, class_names: list[str], transform,
                  topk: int = 3) -> list[tuple[str, float]]:
    """Classify one image (path, bytes or PIL image); return [(class, probability)], best first.

    A one-logit model (sigmoid output) gives both classes; a many-logit model its ``topk``.
    """
    picture = open_image(image)
    pixels = transform(picture)
    device = next(model.parameters()).device
    model.eval()
    logits = model(pixels.unsqueeze(0).to(device)).float().squeeze(0)
    if logits.numel() == 1:
        if len(class_names) != 2:
            raise ValueError(f"The model has one output (two classes) but {len(class_names)} "
                             f"class names were given: {class_names}.")
        p = torch.sigmoid(logits).item()
        probabilities = torch.tensor([1 - p, p])
    else:
        if logits.numel() != len(class_names):
            raise ValueError(f"The model has {logits.numel()} outputs but {len(class_names)} "
                             f"class names were given: {class_names}.")
        probabilities = torch.softmax(logits, dim=0).cpu()
    top = probabilities.topk(min(topk, len(probabilities)))
    return [(class_names[i], float(p)) for p, i in zip(top.values, top.indices)]


# --------------------------------------------------------------------------------------
# Saving and reloading a trained model
# --------------------------------------------------------------------------------------

SAVE_FORMAT = "convnet-lab model v1"
MODELS_ENV = "CONVNET_MODELS"


def model_path(filename: str) -> Path:
    """Where a trained model is saved: ``models/`` in the repository (git-ignored), or the
    folder named by CONVNET_MODELS."""
    import os

    folder = os.environ.get(MODELS_ENV, "").strip()
    if folder:
        return Path(folder).expanduser() / filename
    repo = Path(__file__).resolve().parents[1]
    base = repo if (repo / "notebooks").is_dir() else Path.home() / ".cache" / "convnet-lab"
    return base / "models" / filename


def save_model(path: str | Path, model: nn.Module, class_names: list[str],
               transform: ImageTransform) -> Path:
    """Write weights, class names, architecture and preprocessing to one file (no pickled code)."""
    from helpers.models import ARCHITECTURES

    name = type(model).__name__
    if name not in ARCHITECTURES:
        raise ValueError(f"{name} is not one of helpers.models.ARCHITECTURES; cannot rebuild it.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    torch.save({"format": SAVE_FORMAT, "architecture": name,
                "config": dict(getattr(model, "config", {})), "class_names": list(class_names),
                "transform": asdict(transform), "state_dict": state}, path)
    return path


def load_model(path: str | Path, device: torch.device | str = "cpu"):
    """Reload a file written by ``save_model``.

    Returns:
        (model in eval mode on ``device``, class_names, transform)
    """
    from helpers.models import ARCHITECTURES

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved model at {path}.")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, random bytes, pickled code...
        raise ValueError(f"{path} is not a readable saved model (damaged, truncated, or not "
                         f"written by helpers.save_model): {type(error).__name__}.") from None
    if not isinstance(saved, dict) or saved.get("format") != SAVE_FORMAT:
        raise ValueError(f"{path} was not written by helpers.save_model.")
    builder = ARCHITECTURES.get(saved["architecture"])
    if builder is None:
        raise ValueError(f"{path} holds a {saved['architecture']}, which helpers cannot build.")
    model = builder(**saved["config"])
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"The weights in {path} do not fit a {saved['architecture']}: "
                         f"{str(error).splitlines()[0]}") from None
    transform = ImageTransform(**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in saved["transform"].items()})
    return model.to(device).eval(), list(saved["class_names"]), transform
