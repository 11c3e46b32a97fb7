"""The image-folder datasets the collection knows: where each comes from, and how it is checked.

Every split is found the same way (``find_split``): in the folder named by CONVNET_DATA (offline
use, CI: nothing is downloaded, a missing split is an error that says what to put where), or in
``data/`` beside the notebooks, downloaded on first use from its official source, verified by
SHA-256 and extracted safely. Each class folder must hold the published number of images.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpers.data import ImageSet, hidden, list_images, load_image_folder
from helpers.downloads import Archive, download, safe_extract, verify_file
from helpers.settings import DatasetCorruptError, DatasetNotFoundError, data_root, offline_root


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


def _holds_classes(folder: Path, class_names: list[str]) -> bool:
    return all((folder / name).is_dir() for name in class_names)


def _find_class_root(top: Path, class_names: list[str], depth: int = 2) -> Path | None:
    """Find the folder under ``top`` whose sub-folders are the classes (zips nest them)."""
    if _holds_classes(top, class_names):
        return top
    if depth == 0:
        return None
    for child in sorted(p for p in top.iterdir() if p.is_dir() and not hidden(p)):
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

