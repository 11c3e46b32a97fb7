"""The two datasets that are not image folders: Fashion-MNIST's four IDX files, read straight
from their bytes (packed or not, each checked by the SHA-256 of its unpacked contents), and
SciPy's 512 x 512 ascent image that notebook 01 convolves by hand."""

from __future__ import annotations

import gzip
import hashlib
import math
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from helpers.data import ImageSet
from helpers.downloads import Archive, download, sha256_of
from helpers.settings import (
    DATA_ENV,
    DatasetCorruptError,
    DatasetNotFoundError,
    data_root,
    offline_root,
)

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")  # apt install dataset-fashion-mnist


@dataclass(frozen=True)
class IdxFile:
    """One Fashion-MNIST file, identified by its *unpacked* contents (any gzip of it will do)."""

    name: str  # e.g. "train-images-idx3-ubyte"
    sha256: str
    size: int
    shape: tuple[int, ...]


FASHION_FILES = {
    "train-images": IdxFile("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d"
                            "799fd8a3f3276145d20f83aa44d888", 47_040_016, (60_000, 28, 28)),
    "train-labels": IdxFile("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294f"
                            "f4f6a2e1246121d8633921760443d9", 60_008, (60_000,)),
    "test-images": IdxFile("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087"
                           "ea10ca49f1dbef5c9a5cd8815ce37b", 7_840_016, (10_000, 28, 28)),
    "test-labels": IdxFile("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5"
                           "af83dab82d92729df917d7dec38c34", 10_008, (10_000,)),
}


def _idx_path(folder: Path, idx: IdxFile) -> Path | None:
    """The file for ``idx`` in ``folder``: packed (.gz) or unpacked, or None."""
    for path in (folder / (idx.name + ".gz"), folder / idx.name):
        if path.is_file():
            return path
    return None


def read_idx(path: Path, expected: IdxFile | None = None) -> torch.Tensor:
    """Read an IDX file (gzipped or not) into a uint8 tensor, without writing anything.

    With ``expected``, the unpacked bytes must have its size and SHA-256, so the official
    archives and Debian's re-compressed copies are both accepted and anything else is refused.
    """
    try:
        content = path.read_bytes()
        if content[:2] == b"\x1f\x8b":  # gzip's magic number: unpack in memory
            content = gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise DatasetCorruptError(f"{path} could not be unpacked ({error}): it is damaged or "
                                  "cut short. Delete it and fetch it again.") from None
    if expected is not None and (len(content) != expected.size
                                 or hashlib.sha256(content).hexdigest() != expected.sha256):
        raise DatasetCorruptError(
            f"{path} is not the official {expected.name}: its unpacked contents have "
            f"{len(content):,} bytes (expected {expected.size:,}) and another SHA-256. It is "
            f"damaged or a different file. Delete it and fetch it again from {FASHION_URL}.")
    ndim = content[3] if len(content) > 3 else 0
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", content[4:header]) if len(content) >= header else None
    if (content[:3] != b"\0\0\x08" or shape is None
            or len(content) != header + math.prod(shape)):
        raise DatasetCorruptError(f"{path} is not an IDX file of bytes (bad header or length).")
    array = torch.frombuffer(bytearray(content[header:]), dtype=torch.uint8)
    return array.reshape(shape)


def find_fashion_mnist(download_missing: bool | None = None) -> Path:
    """Return the folder holding Fashion-MNIST's four files (packed or not).

    Looks in ``<data root>/FashionMNIST/raw``; with no CONVNET_DATA, also in Debian's
    ``/usr/share/datasets/fashion-mnist``, and then downloads the files from Zalando's mirror.
    """
    root = data_root()
    raw = root / "FashionMNIST" / "raw"
    offline = offline_root() is not None
    folders = [raw] if offline else [raw, DEBIAN_FASHION]
    for folder in folders:
        if all(_idx_path(folder, idx) for idx in FASHION_FILES.values()):
            return folder
    if download_missing is None:
        download_missing = not offline
    if not download_missing:
        names = ", ".join(idx.name + ".gz" for idx in FASHION_FILES.values())
        raise DatasetNotFoundError(
            f"Fashion-MNIST was not found in {raw}. Put its four files there ({names}; from "
            f"{FASHION_URL} or https://github.com/zalandoresearch/fashion-mnist; on Debian, "
            f"`apt install dataset-fashion-mnist`), or unset {DATA_ENV} to download them.")
    for idx in FASHION_FILES.values():
        if _idx_path(raw, idx) is None:
            def check(path: Path, idx: IdxFile = idx) -> None:
                read_idx(path, idx)  # raises DatasetCorruptError for a bad download

            download(Archive(FASHION_URL + idx.name + ".gz", idx.sha256, None), raw, check=check)
    return raw


def load_fashion_mnist() -> tuple[ImageSet, ImageSet]:
    """Return Fashion-MNIST's 60,000 training and 10,000 test images as uint8 [N, 1, 28, 28].

    Each file's unpacked contents are checked against the official SHA-256 before use.
    """
    folder = find_fashion_mnist()
    tensors = {key: read_idx(_idx_path(folder, idx), idx) for key, idx in FASHION_FILES.items()}
    return tuple(ImageSet(tensors[f"{split}-images"].unsqueeze(1),
                          tensors[f"{split}-labels"].long(), FASHION_CLASSES)
                 for split in ("train", "test"))


ASCENT_SHA256 = "03ce124c1afc880f87b55f6b061110e2e1e939679184f5614e38dacc6c1957e2"


def load_ascent():
    """Return SciPy's 512 x 512 ascent image (a NumPy array), offline if CONVNET_DATA has it.

    With CONVNET_DATA set, ``scipy-data/ascent.dat`` there is checked and copied into SciPy's
    own cache, so ``scipy.datasets.ascent()`` works without a network from then on.
    """
    import pooch
    import scipy.datasets

    root = offline_root()
    if root is not None:
        source = root / "scipy-data" / "ascent.dat"
        if not source.exists():
            raise DatasetNotFoundError(
                f"{source} is missing: copy ascent.dat (from "
                f"https://raw.githubusercontent.com/scipy/dataset-ascent/main/ascent.dat) there."
            )
        if sha256_of(source) != ASCENT_SHA256:
            raise DatasetCorruptError(f"{source} does not match SciPy's published SHA-256.")
        cache = Path(pooch.os_cache("scipy-data"))
        cache.mkdir(parents=True, exist_ok=True)
        cached = cache / "ascent.dat"
        if not cached.exists() or sha256_of(cached) != ASCENT_SHA256:
            shutil.copyfile(source, cached)
    if root is not None:
        return scipy.datasets.ascent()  # reads the cached copy just checked
    try:
        return scipy.datasets.ascent()
    except Exception as error:  # pooch raises requests' or urllib's errors when offline
        raise DatasetNotFoundError(
            f"SciPy could not download the ascent image ({type(error).__name__}). Without a "
            f"network, set {DATA_ENV} to a folder holding scipy-data/ascent.dat."
        ) from error
