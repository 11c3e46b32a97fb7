"""Datasets: where each comes from, how it is checked, and how it is loaded into memory once.

Every dataset is found the same way:

* ``CONVNET_DATA`` names a folder that already holds the data (offline use, CI). Nothing is
  downloaded; a missing dataset is an error that says which files to put where.
* Otherwise the data lives in ``data/`` beside the notebooks and is downloaded on first use
  from its official source, verified by SHA-256 and extracted safely.

Images are decoded and resized once into a uint8 tensor; training batches are then cut from
that tensor (on the GPU when there is one), so an epoch never decodes a JPEG.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import shutil
import struct
import tempfile
import time
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF

from helpers.preprocess import ImageError, open_image

DATA_ENV = "CONVNET_DATA"
QUICK_ENV = "CONVNET_QUICK"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not where it should be (and could not be downloaded)."""


class DatasetCorruptError(RuntimeError):
    """A dataset file or folder is incomplete, damaged or not what it claims to be."""


# --------------------------------------------------------------------------------------
# Settings read from the environment
# --------------------------------------------------------------------------------------


def is_quick() -> bool:
    """Return True when CONVNET_QUICK asks for a fast, shrunken run (tests, CI)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def quick_or_full(quick, full):
    """Return ``quick`` in QUICK mode and ``full`` otherwise (epochs, subset sizes...)."""
    return quick if is_quick() else full


def offline_root() -> Path | None:
    """Return the folder named by CONVNET_DATA, or None when it is not set."""
    value = os.environ.get(DATA_ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{DATA_ENV} is set to {value!r}, which is not a folder.")
    return root


def data_root() -> Path:
    """Return the folder datasets are read from: CONVNET_DATA if set, else the repo's data/."""
    root = offline_root()
    if root is not None:
        return root
    repo = Path(__file__).resolve().parents[1]
    if (repo / "notebooks").is_dir():
        return repo / "data"
    return Path.home() / ".cache" / "convnet-lab"


# --------------------------------------------------------------------------------------
# Downloading, verifying and extracting archives
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """One file published by a dataset's authors, with the checksum we expect."""

    url: str
    sha256: str
    size: int | None  # None when only the unpacked contents are checked (Fashion-MNIST)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, archive: Archive) -> None:
    """Raise DatasetCorruptError unless ``path`` has the archive's size and SHA-256."""
    size = path.stat().st_size
    if size != archive.size:
        raise DatasetCorruptError(
            f"{path} has {size:,} bytes but {archive.filename} should have {archive.size:,}: "
            f"the download is incomplete or is not the right file. Delete it and try again, "
            f"or download {archive.url} by hand and put it there."
        )
    if sha256_of(path) != archive.sha256:
        raise DatasetCorruptError(
            f"{path} does not match the SHA-256 published for {archive.url}: the file is "
            f"damaged or is not the right file. Delete it and download it again."
        )


RETRY_PAUSE = 2.0  # seconds before the first retry of a download, doubled for each next one


def download(archive: Archive, folder: Path, retries: int = 3,
             check: Callable[[Path], None] | None = None, time_limit: float = 3600.0) -> Path:
    """Download ``archive`` into ``folder`` once (with a progress bar) and verify it.

    ``check`` replaces the default size and SHA-256 check of the downloaded file (Fashion-MNIST
    checks the unpacked contents instead); it raises DatasetCorruptError for a bad file.
    Every kind of interrupted transfer (refused, reset, cut off, timed out, damaged) is retried
    up to ``retries`` times within ``time_limit`` seconds in all. The file is written as
    ``<name>.part`` and renamed only once checked; a partial file is never kept.
    """
    check = check or (lambda path: verify_file(path, archive))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / archive.filename
    if target.exists():
        check(target)
        return target
    partial = target.with_suffix(target.suffix + ".part")
    deadline = time.monotonic() + time_limit
    last_error: Exception | None = None
    try:
        for attempt in range(1, retries + 1):
            try:
                _fetch(archive, partial, deadline)
                check(partial)
                partial.replace(target)
                return target
            except (OSError, http.client.HTTPException, DatasetCorruptError) as error:
                last_error = error
                partial.unlink(missing_ok=True)
                print(f"Download attempt {attempt} of {retries} failed: "
                      f"{type(error).__name__}: {error}")
            left = deadline - time.monotonic()
            if left <= 0:
                last_error = TimeoutError(f"gave up after the time limit of {time_limit:.0f} s; "
                                          f"last: {last_error}")
                break
            if attempt < retries:
                time.sleep(min(RETRY_PAUSE * 2 ** (attempt - 1), left))
    finally:  # also on Ctrl-C or an unexpected error: never leave half a file behind
        partial.unlink(missing_ok=True)
    raise DatasetNotFoundError(
        f"Could not download {archive.url} ({last_error}). Download it by hand and put it at "
        f"{target}, or set {DATA_ENV} to a folder that already holds the data."
    )


def _fetch(archive: Archive, partial: Path, deadline: float) -> None:
    """Stream ``archive.url`` into ``partial``; raise for a transfer cut off or past
    ``deadline`` (a server that sends a byte now and then never times out a single read)."""
    from tqdm.auto import tqdm

    timeout = max(1.0, min(60.0, deadline - time.monotonic()))
    with urllib.request.urlopen(archive.url, timeout=timeout) as response, open(
        partial, "wb"
    ) as out, tqdm(total=archive.size, unit="B", unit_scale=True, desc=archive.filename) as bar:
        while block := response.read1(1 << 16):
            out.write(block)
            bar.update(len(block))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{archive.filename} was still downloading at the time "
                                   f"limit ({out.tell():,} bytes so far)")
        missing = getattr(response, "length", None)  # bytes announced but never sent
        if missing:
            raise http.client.IncompleteRead(b"", missing)


def safe_extract(zip_path: Path, destination: Path) -> None:
    """Extract a zip file, refusing any member that would land outside ``destination``."""
    destination = destination.resolve()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                target = (destination / member.filename).resolve()
                if not target.is_relative_to(destination):
                    raise DatasetCorruptError(
                        f"{zip_path} holds {member.filename!r}, which would be written "
                        f"outside {destination}; refusing to extract it."
                    )
                if (member.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DatasetCorruptError(f"{zip_path} holds a symbolic link: refused.")
            archive.extractall(destination)
    except zipfile.BadZipFile as error:
        raise DatasetCorruptError(f"{zip_path} is not a valid zip file ({error}).") from error


# --------------------------------------------------------------------------------------
# The image-folder datasets the collection knows
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFolderSplit:
    """One split of an image-folder dataset: its source and the folders it may sit in."""

    name: str  # e.g. "horse-or-human/train": also where a download is extracted to
    archive: Archive
    class_counts: dict[str, int]
    other_layouts: tuple[str, ...] = ()  # e.g. where the upstream zip unpacks

    @property
    def class_names(self) -> list[str]:
        return sorted(self.class_counts)


_TF_DATA = "https://storage.googleapis.com/download.tensorflow.org/data/"
SPLITS: dict[str, ImageFolderSplit] = {
    split.name: split
    for split in [
        ImageFolderSplit(
            "horse-or-human/train",
            Archive(
                _TF_DATA + "horse-or-human.zip",
                "e2e6f70d3d549c5dd10a57165e55af253ee66ad750403f95c0fb76bb943633a9",
                149574867,
            ),
            {"horses": 500, "humans": 527},
            other_layouts=("horse-or-human",),
        ),
        ImageFolderSplit(
            "horse-or-human/validation",
            Archive(
                _TF_DATA + "validation-horse-or-human.zip",
                "ae5fff2f4f5554791f05358108e2e05d9801b191f1896ea101402f0e7f6c32c0",
                11480187,
            ),
            {"horses": 128, "humans": 128},
            other_layouts=("validation-horse-or-human",),
        ),
        ImageFolderSplit(
            "rps/train",
            Archive(
                _TF_DATA + "rps.zip",
                "c2403444395842ad04c53612bad54b574443eae17a0723117a2ff87b9d72194f",
                200682221,
            ),
            {"paper": 840, "rock": 840, "scissors": 840},
            other_layouts=("rps",),
        ),
        ImageFolderSplit(
            "rps/test",
            Archive(
                _TF_DATA + "rps-test-set.zip",
                "c27ab9fa43ce40b2e453de711365b477f4424586edf0388116674fd320f07503",
                29516758,
            ),
            {"paper": 124, "rock": 124, "scissors": 124},
            other_layouts=("rps-test-set",),
        ),
    ]
}


def _hidden(path: Path) -> bool:
    """Hidden files and folders, and what macOS adds to zips (``._photo.jpg``, ``__MACOSX``)."""
    return path.name.startswith(".") or path.name == "__MACOSX"


def list_images(folder: Path) -> list[Path]:
    """Return the image files directly inside ``folder``, sorted by name.

    Hidden files are skipped, among them the ``._photo.jpg`` companions macOS writes beside
    each photo (they hold Finder metadata, not pixels).
    """
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not _hidden(p) and p.is_file())


def _holds_classes(folder: Path, class_names: list[str]) -> bool:
    return all((folder / name).is_dir() for name in class_names)


def _find_class_root(top: Path, class_names: list[str], depth: int = 2) -> Path | None:
    """Find the folder under ``top`` whose sub-folders are the classes (zips nest them)."""
    if _holds_classes(top, class_names):
        return top
    if depth == 0:
        return None
    for child in sorted(p for p in top.iterdir() if p.is_dir() and not _hidden(p)):
        found = _find_class_root(child, class_names, depth - 1)
        if found is not None:
            return found
    return None


def check_counts(folder: Path, split: ImageFolderSplit) -> None:
    """Raise DatasetCorruptError if a class folder does not hold the published count."""
    for name, expected in split.class_counts.items():
        found = len(list_images(folder / name))
        if found != expected:
            raise DatasetCorruptError(
                f"{folder / name} holds {found} images but {split.name} has {expected}: the "
                f"copy is incomplete or mixed up. Replace it with a fresh copy of "
                f"{split.archive.url}."
            )


def _missing_message(split: ImageFolderSplit, root: Path) -> str:
    classes = ", ".join(split.class_names)
    return (
        f"Dataset {split.name!r} was not found under {root}.\n"
        f"Put its images in {root / split.name}/<class>/ (classes: {classes}), or place "
        f"{split.archive.filename} (from {split.archive.url}) in {root}."
    )


def find_split(name: str, download_missing: bool | None = None) -> Path:
    """Return the folder holding the class sub-folders of split ``name`` (e.g. "rps/test").

    Looks in the data root in our layout and in the upstream zips' layout; extracts the
    archive if it lies there; downloads it when CONVNET_DATA is not set.
    """
    split = SPLITS[name]
    root = data_root()
    for relative in (split.name, *split.other_layouts):
        folder = root / relative
        if folder.is_dir() and _holds_classes(folder, split.class_names):
            check_counts(folder, split)
            return folder
    if download_missing is None:
        download_missing = offline_root() is None
    zip_path = next(
        (p for p in (root / split.archive.filename, root / "downloads" / split.archive.filename)
         if p.exists()),
        None,
    )
    if zip_path is None and not download_missing:
        raise DatasetNotFoundError(_missing_message(split, root))
    if zip_path is None:
        zip_path = download(split.archive, root / "downloads")
    else:
        verify_file(zip_path, split.archive)
    return _extract_split(zip_path, split, root)


def _extract_split(zip_path: Path, split: ImageFolderSplit, root: Path) -> Path:
    target = root / split.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        safe_extract(zip_path, Path(scratch))
        found = _find_class_root(Path(scratch), split.class_names)
        if found is None:
            raise DatasetCorruptError(f"{zip_path} does not hold the folders {split.class_names}.")
        check_counts(found, split)
        if target.exists():
            raise DatasetCorruptError(
                f"{target} exists but does not hold the complete split (classes: "
                f"{', '.join(split.class_names)}). Delete it and run again to re-extract "
                f"{zip_path.name}.")
        shutil.move(str(found), target)
    return target


# --------------------------------------------------------------------------------------
# Images in memory
# --------------------------------------------------------------------------------------


@dataclass
class ImageSet:
    """Decoded images as one uint8 tensor [N, C, H, W] with integer labels."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        counts = torch.bincount(self.labels.cpu(), minlength=len(self.class_names)).tolist()
        per_class = ", ".join(f"{c}: {n}" for c, n in zip(self.class_names, counts))
        return (f"ImageSet({len(self)} images of shape {tuple(self.images.shape[1:])}, "
                f"{self.images.dtype}, on {self.images.device}; {per_class})")

    def to(self, device: torch.device | str) -> ImageSet:
        """Return the same images on ``device``."""
        return ImageSet(self.images.to(device), self.labels.to(device), self.class_names)

    def subset(self, per_class: int, seed: int = 0) -> ImageSet:
        """Return at most ``per_class`` randomly chosen images of each class."""
        generator = torch.Generator().manual_seed(seed)
        labels = self.labels.cpu()
        keep = []
        for label in range(len(self.class_names)):
            members = torch.nonzero(labels == label).flatten()
            order = torch.randperm(len(members), generator=generator)
            keep.append(members[order[:per_class]])
        index = torch.cat(keep).sort().values.to(self.labels.device)
        return ImageSet(self.images[index], self.labels[index], self.class_names)

    def split(self, fraction: float = 0.2, seed: int = 0) -> tuple[ImageSet, ImageSet]:
        """Split off a random ``fraction`` (e.g. a validation set); return (rest, held_out)."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        held = round(len(self) * fraction)
        parts = order[held:].sort().values, order[:held].sort().values
        return tuple(ImageSet(self.images[i.to(self.images.device)],
                              self.labels[i.to(self.labels.device)], self.class_names)
                     for i in parts)


def read_image_file(path: Path, size: int) -> torch.Tensor:
    """Decode one image file to RGB uint8 [3, size, size] (antialiased resize).

    Uses the same decoder as ``helpers.predict_image``, so training and prediction see the
    same pixels. Raises DatasetCorruptError, naming the file, when it cannot be decoded.
    """
    try:
        picture = open_image(path)
    except ImageError as error:
        raise DatasetCorruptError(f"{error} It is part of a dataset: delete or replace that "
                                  f"file, or extract the dataset again.") from None
    return TF.resize(TF.pil_to_tensor(picture), [size, size], antialias=True)


def load_image_folder(folder: Path | str, size: int, class_names: list[str] | None = None,
                      workers: int | None = None, progress: bool = True) -> ImageSet:
    """Decode every image under ``folder/<class>/`` once, resized to size x size.

    Labels follow the alphabetical order of the class folders, as torchvision's ImageFolder;
    hidden folders (``.ipynb_checkpoints``) and ``__MACOSX`` are not classes. ``progress``
    shows a progress bar (it disappears when the pass is done).
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    if class_names is None:
        class_names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not _hidden(p))
    paths, labels = [], []
    for label, name in enumerate(class_names):
        files = list_images(folder / name)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DatasetNotFoundError(f"No images found in the class folders of {folder}.")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        decoded = pool.map(lambda p: read_image_file(p, size), paths)
        images = list(tqdm(decoded, total=len(paths), desc=f"decoding {folder.name}",
                           unit="image", leave=False, disable=not progress))
    return ImageSet(torch.stack(images), torch.tensor(labels), list(class_names))


def load_image_split(name: str, size: int) -> ImageSet:
    """Find (or download) split ``name`` and decode it into memory at ``size`` x ``size``."""
    folder = find_split(name)
    return load_image_folder(folder, size, SPLITS[name].class_names)


def load_horses_or_humans(size: int = 150) -> tuple[ImageSet, ImageSet]:
    """Return the Horses-or-Humans training and validation sets, decoded once."""
    return (load_image_split("horse-or-human/train", size),
            load_image_split("horse-or-human/validation", size))


def load_rock_paper_scissors(size: int = 150) -> tuple[ImageSet, ImageSet]:
    """Return the Rock-Paper-Scissors training and test sets, decoded once."""
    return load_image_split("rps/train", size), load_image_split("rps/test", size)


# --------------------------------------------------------------------------------------
# Fashion-MNIST (read straight from the four IDX files) and SciPy's ascent image
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# Batches from memory
# --------------------------------------------------------------------------------------


class InMemoryLoader:
    """Yield shuffled (or ordered) batches of normalised float images from an ImageSet.

    The uint8 images stay where they are (GPU or CPU); each batch is indexed, converted to
    float, scaled to (x/255 - mean) / std, and optionally passed through ``augment``.
    """

    def __init__(self, data: ImageSet, batch_size: int = 32, shuffle: bool = False,
                 mean: float | tuple[float, ...] = 0.5, std: float | tuple[float, ...] = 0.5,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 seed: int = 0) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number of images, at least 1, not "
                             f"{batch_size!r}.")
        self.data, self.batch_size, self.shuffle, self.augment = data, batch_size, shuffle, augment
        device = data.images.device
        channels = data.images.shape[1]
        for name, value in (("mean", mean), ("std", std)):
            given = torch.as_tensor(value).numel()
            if given not in (1, channels):
                raise ValueError(f"{name}={value} has {given} values but the images have "
                                 f"{channels} channel{'s' * (channels > 1)}: give one value per "
                                 f"channel, or one for all.")
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device).expand(channels)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device).expand(channels)
        if not (torch.isfinite(self.mean).all() and (self.std > 0).all()):
            raise ValueError(f"InMemoryLoader needs finite means and standard deviations above "
                             f"0 (it divides by them), not mean={mean}, std={std}.")
        self.scale = (1 / (255 * self.std)).view(1, -1, 1, 1)
        self.shift = (-self.mean / self.std).view(1, -1, 1, 1)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    @property
    def class_names(self) -> list[str]:
        return self.data.class_names

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Turn uint8 images into normalised float32 images."""
        return images.float().mul_(self.scale).add_(self.shift)

    def _order(self) -> torch.Tensor:
        """The positions of the images, in the order this epoch visits them."""
        n, device = len(self.data), self.data.images.device
        if self.shuffle:
            return torch.randperm(n, device=device, generator=self.generator)
        return torch.arange(n, device=device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            images = self.data.images[index]
            if self.augment is not None:
                images = self.augment(images)
            yield self.normalize(images), self.data.labels[index]
