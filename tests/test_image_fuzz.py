"""A seeded fuzz of open_image: small images in every format Pillow can write and read back,
truncated, with flipped bytes, damaged headers and overwritten spans. Each damaged file must
give an ImageError naming it, or a usable 8-bit RGB picture: never another exception."""

from __future__ import annotations

import io
import random
from functools import cache

import pytest
from PIL import Image

from helpers.preprocess import MAX_PIXELS, ImageError, open_image

# Pillow warns about some damage (corrupt EXIF, tags larger than the file) before it decides.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]
MODES = ("RGB", "RGBA", "L", "P", "1", "I;16", "CMYK")
CASES = 400  # about 2 s; tools like this one ran 10,000 by hand


@cache
def originals() -> list[tuple[str, bytes]]:
    """(label, bytes) for every (format, mode) that Pillow can both write and read back."""
    picture = Image.radial_gradient("L").resize((24, 16)).convert("RGB")
    picture.putpixel((3, 3), (250, 10, 10))
    files = []
    Image.init()
    for fmt in sorted(Image.SAVE):
        for mode in MODES:
            buffer = io.BytesIO()
            try:
                picture.convert(mode).save(buffer, fmt)
                Image.open(io.BytesIO(buffer.getvalue())).load()
            except Exception:  # this format cannot store this mode (or cannot be read back)
                continue
            files.append((f"{fmt}-{mode}", buffer.getvalue()))
    return files


def damage(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random kind of damage a download, a disk or an upload does to a file."""
    kind = rng.choice(["truncate", "flip", "header", "span", "truncate+flip"])
    data = bytearray(data)
    if kind in ("flip", "truncate+flip"):
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    if kind == "header":
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(min(len(data), 40))] ^= rng.randint(1, 255)
    if kind == "span":
        start = rng.randrange(len(data))
        data[start:start + rng.randint(4, 64)] = rng.randbytes(rng.randint(4, 64))
    if kind.startswith("truncate"):
        data = data[:rng.randrange(1, len(data))]
    return kind, bytes(data)


def open_damaged(cases: int, seed: int, opener=open_image) -> list[str]:
    """Open ``cases`` damaged files; return a line for each one that broke the promise."""
    rng, broken = random.Random(seed), []
    for number in range(cases):
        label, original = rng.choice(originals())
        kind, data = damage(original, rng)
        name = f"case{number}-{label}-{kind}.img"
        try:
            picture = opener(data, name=name)
        except ImageError as error:
            if name not in str(error):
                broken.append(f"{name}: the message does not name the file: {error}")
        except Exception as error:
            broken.append(f"{name}: {type(error).__name__}: {error}")
        else:
            width, height = picture.size
            if picture.mode != "RGB" or not 0 < width * height <= MAX_PIXELS:
                broken.append(f"{name}: gave a {picture.mode} picture of {picture.size}")
    return broken


def test_every_format_pillow_writes_opens_as_rgb_when_undamaged():
    labels = [label for label, _ in originals()]
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"):
        assert f"{fmt}-RGB" in labels or f"{fmt}-P" in labels
    for label, data in originals():
        picture = open_image(data, name=label)
        assert picture.mode == "RGB", label
        if not label.startswith(("ICNS", "ICO")):  # icons are stored at their own sizes
            assert picture.size == (24, 16), label


def test_damaged_images_raise_image_error_or_open_as_rgb():
    broken = open_damaged(CASES, seed=16)
    assert not broken, f"{len(broken)} of {CASES} damaged files broke open_image:\n" + "\n".join(
        broken[:20])


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_truncated_files_on_disk_name_the_path(tmp_path, cut):
    for label, data in originals():
        path = tmp_path / f"{label}.img"
        path.write_bytes(data[:max(1, int(len(data) * cut))])
        try:
            assert open_image(path).mode == "RGB"
        except ImageError as error:
            assert str(path) in str(error)
