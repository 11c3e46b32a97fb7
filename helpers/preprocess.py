"""From a file to model input: open any real-world image safely as 8-bit RGB, then preprocess it.

``open_image`` turns whatever goes wrong while opening or decoding a picture into one
``ImageError`` that names the file and says what to do. ``ImageTransform`` is the prediction
preprocessing, kept as plain data so it can be saved beside a model's weights.
"""

from __future__ import annotations

import io
import numbers
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

MAX_PIXELS = 60_000_000  # ~ a 60-megapixel photo; anything larger is refused, not decoded
BOMB_PIXELS = 1_000_000_000  # more than any camera makes: only a forged header claims this
BOMB_RATIO = 1_000  # real photos need far more than one byte per 1,000 pixels
SAVE_AS = "Open it in an image viewer and save (or export) it as JPEG or PNG, then try again."
# ISO base-media brands (bytes 8-12, after "ftyp") of HEIC/HEIF photos and of AVIF images
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
               b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}


class ImageError(ValueError):
    """The input is not an image we can classify; the message says what is wrong."""


def _read_bytes(image, name: str | None) -> tuple[bytes, str]:
    if isinstance(image, (str, os.PathLike)):
        name = name or str(image)
        if not os.path.isfile(image):
            raise ImageError(f"{name} is not a file. Check the path (and its folder).")
        try:
            with open(image, "rb") as handle:
                return handle.read(), name
        except OSError as error:
            raise ImageError(f"{name} cannot be read ({error.strerror or error}). Check that "
                             f"you may read it, or copy it somewhere you can.") from None
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), name or "this file"
    module = type(image).__module__.split(".")[0]
    kind = type(image).__name__ if module == "builtins" else f"{module}.{type(image).__name__}"
    hint = ("Convert it first: PIL.Image.fromarray(array) for 8-bit pixels [H, W, 3], or "
            "torchvision.transforms.functional.to_pil_image(tensor) for a tensor [3, H, W]."
            if module in ("numpy", "torch") else "")
    raise ImageError(f"open_image takes a file path, the file's bytes or a PIL image, not a "
                     f"{kind}. {hint}".strip())


def _heif_kind(data: bytes) -> str | None:
    """'HEIC' or 'AVIF' when the bytes start like such a file (an ISO 'ftyp' box), else None."""
    if data[4:8] != b"ftyp":
        return None
    brands = {data[i:i + 4] for i in range(8, min(len(data), 64), 4)}
    if brands & AVIF_BRANDS:
        return "AVIF"
    return "HEIC" if brands & HEIF_BRANDS else None


def _open_heic(data: bytes) -> Image.Image | None:
    """Open HEIC bytes with the optional pillow-heif plugin; None when it is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return None
    register_heif_opener()
    return Image.open(io.BytesIO(data))


def _unreadable(name: str, data: bytes) -> ImageError:
    kind = _heif_kind(data)
    if kind == "HEIC":
        return ImageError(
            f"{name} is a HEIC/HEIF photo (what iPhones and many phones save), which Pillow "
            f"cannot read without a plugin. Convert it to JPEG (iPhone: Settings > Camera > "
            f"Formats > Most Compatible; Mac: open in Preview, File > Export > JPEG; Windows: "
            f"open in Photos, Save as JPEG), or run `pip install pillow-heif` and restart.")
    if kind == "AVIF":
        return ImageError(f"{name} is an AVIF image, which this Pillow cannot read. Upgrade "
                          f"Pillow (`pip install -U pillow`, 11.3 or newer reads AVIF) and "
                          f"restart, or convert it to JPEG. {SAVE_AS}")
    return ImageError(f"{name} is not an image file we can read (it starts with {data[:12]!r}, "
                      f"which is no image format Pillow knows). Choose a JPEG or PNG photo.")


def _too_many_pixels(name: str, pixels: int, dims: str, file_bytes: int | None) -> ImageError:
    size = f"{dims} ({pixels / 1e6:,.0f} megapixels)" if dims else f"{pixels / 1e6:,.0f} megapixels"
    limit = f"{MAX_PIXELS // 1_000_000} megapixels"
    if pixels > BOMB_PIXELS or (file_bytes is not None and file_bytes * BOMB_RATIO < pixels):
        stored = f" in a file of only {file_bytes:,} bytes" if file_bytes is not None else ""
        return ImageError(
            f"{name} claims an absurd number of pixels, {size}{stored}: no real photo looks "
            f"like this (a 'decompression bomb' does), so it is not decoded. If it really is "
            f"a picture, resize it below {limit}.")
    return ImageError(f"{name} is {size}, more than the {limit} these helpers decode. Resize "
                      f"it below {limit} (4000 x 3000 is plenty) and try again.")


def open_image(image, name: str | None = None) -> Image.Image:
    """Return an 8-bit RGB PIL image from a path, raw bytes or a PIL image, upright per EXIF.

    Copes with RGBA and palette images (composited on white), greyscale, CMYK and 16-bit
    images. Raises ImageError, naming the file (or ``name``), for anything it cannot use.
    """
    data = None
    if isinstance(image, Image.Image):
        picture, name = image, name or "the image"
    else:
        data, name = _read_bytes(image, name)
        if not data:
            raise ImageError(f"{name} is empty (0 bytes). Choose the file again, or another.")
        try:
            with warnings.catch_warnings():  # our own limit, below, replaces Pillow's warning
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                try:
                    picture = Image.open(io.BytesIO(data))
                except UnidentifiedImageError:
                    picture = _open_heic(data) if _heif_kind(data) == "HEIC" else None
                    if picture is None:
                        raise _unreadable(name, data) from None
        except ImageError:
            raise
        except Image.DecompressionBombError as error:  # over twice Pillow's own limit
            found = re.search(r"\((\d+) pixels\)", str(error))
            pixels = int(found.group(1)) if found else BOMB_PIXELS + 1
            raise _too_many_pixels(name, pixels, "", len(data)) from None
        except Exception as error:  # any plugin's failure on a damaged header
            raise ImageError(f"{name} is damaged: its header cannot be read ({error}). "
                             f"{SAVE_AS}") from None
    width, height = picture.size
    if width == 0 or height == 0:
        raise ImageError(f"{name} claims {width} x {height} pixels: it holds no picture. "
                         f"Choose another file.")
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(name, width * height, f"{width} x {height} pixels",
                               None if data is None else len(data))
    try:
        picture.load()
    except Exception as error:  # truncated or damaged pixel data, whatever the decoder says
        raise ImageError(f"{name} is damaged or truncated: its pixels cannot be decoded "
                         f"({error or type(error).__name__}). {SAVE_AS}") from None
    try:
        picture = ImageOps.exif_transpose(picture)
    except Exception:  # broken EXIF: keep the picture as stored rather than refuse it
        pass
    try:
        return _to_rgb(picture)
    except Exception as error:
        raise ImageError(f"{name} uses a colour mode ({picture.mode}) that cannot be turned "
                         f"into RGB ({error}). {SAVE_AS}") from None


def _to_rgb(picture: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, scaling 16- and 32-bit values to 0-255."""
    if picture.mode.startswith("I") or picture.mode == "F":
        values = np.asarray(picture, dtype=np.float64)
        key = picture.info.get("transparency")
        opaque = values != key if isinstance(key, (int, float)) else None
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        top = 65535.0 if picture.mode.startswith("I;16") or values.max() > 255 else 255.0
        if picture.mode == "F":
            low, high = values.min(), values.max()
            values, top = (values - low) / max(high - low, 1e-12), 1.0
        grey = Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8))
        if opaque is None:
            return grey.convert("RGB")
        picture = Image.merge("LA", (grey, Image.fromarray(opaque.astype(np.uint8) * 255)))
    if picture.mode in ("RGBA", "LA", "P", "PA", "La", "RGBa") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return picture.convert("RGB")


@dataclass(frozen=True)
class ImageTransform:
    """Preprocessing for prediction: resize to size x size, scale to (x/255 - mean) / std.

    It matches what ``load_image_folder`` + ``InMemoryLoader`` do to the training images, and
    it is plain data (ints and tuples of floats), so it can be saved beside the weights.
    ``channels=1`` turns the photo grey first (the Fashion-MNIST models take 1 channel).
    """

    size: int
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    channels: int = 3

    def __post_init__(self) -> None:
        size, mean, std = self.size, _floats(self.mean, "mean"), _floats(self.std, "std")
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or not (
                1 <= size <= 4096):
            raise ValueError(f"ImageTransform size must be a whole number of pixels from 1 to "
                             f"4096 (e.g. 150), not {size!r}.")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"ImageTransform channels must be 3 (colour) or 1 (grey), not "
                             f"{self.channels!r}.")
        if len(mean) not in (1, self.channels) or len(std) != len(mean):
            raise ValueError(f"ImageTransform needs one mean and one std for each of the "
                             f"{self.channels} channels (or one for all): got mean {mean}, "
                             f"std {std}.")
        if not all(s > 0 for s in std):
            raise ValueError(f"ImageTransform std values must be above 0, not {std}.")
        object.__setattr__(self, "size", int(size))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def __call__(self, picture: Image.Image) -> torch.Tensor:
        if self.channels == 1:
            picture = picture.convert("L")
        pixels = TF.resize(TF.pil_to_tensor(picture), [self.size, self.size], antialias=True)
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (pixels.float() / 255 - mean) / std


def _floats(values, what: str) -> tuple[float, ...]:
    """Plain Python floats from a number, a list, a tuple, a NumPy array or a tensor."""
    try:
        floats = tuple(float(v) for v in np.ravel(np.asarray(values, dtype=np.float64)))
    except (TypeError, ValueError):
        raise ValueError(f"ImageTransform {what} must be numbers, not {values!r}.") from None
    if not floats or not all(np.isfinite(floats)):
        raise ValueError(f"ImageTransform {what} must be finite numbers, not {values!r}.")
    return floats
