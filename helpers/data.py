"""Images in memory: decode an image folder once into one uint8 tensor, then cut batches from it.

An ``ImageSet`` holds every image of a split, decoded and resized once (on the GPU when there is
one). ``InMemoryLoader`` cuts shuffled batches from it, normalised (and augmented) on the
device, so an epoch never decodes a JPEG. Where each dataset comes from is in
``helpers.datasets`` (image folders) and ``helpers.readers`` (Fashion-MNIST, ascent).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF

from helpers.preprocess import ImageError, open_image
from helpers.settings import DatasetCorruptError, DatasetNotFoundError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def hidden(path: Path) -> bool:
    """Hidden files and folders, and what macOS adds to zips (``._photo.jpg``, ``__MACOSX``)."""
    return path.name.startswith(".") or path.name == "__MACOSX"


def list_images(folder: Path) -> list[Path]:
    """Return the image files directly inside ``folder``, sorted by name.

    Hidden files are skipped, among them the ``._photo.jpg`` companions macOS writes beside
    each photo (they hold Finder metadata, not pixels).
    """
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not hidden(p) and p.is_file())


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

    def take(self, *parts: torch.Tensor) -> ImageSet:
        """The images at the positions in ``parts`` (index tensors, any device), kept in their
        original order. Every subset and split here is made with it."""
        index = torch.cat(parts).sort().values
        return ImageSet(self.images[index.to(self.images.device)],
                        self.labels[index.to(self.labels.device)], self.class_names)

    def shuffled_class(self, label: int, generator: torch.Generator) -> torch.Tensor:
        """The positions of one class's images, in a random order drawn from ``generator``."""
        members = torch.nonzero(self.labels.cpu() == label).flatten()
        return members[torch.randperm(len(members), generator=generator)]

    def subset(self, per_class: int, seed: int = 0) -> ImageSet:
        """Return at most ``per_class`` randomly chosen images of each class."""
        generator = torch.Generator().manual_seed(seed)
        return self.take(*(self.shuffled_class(label, generator)[:per_class]
                           for label in range(len(self.class_names))))

    def split(self, fraction: float = 0.2, seed: int = 0) -> tuple[ImageSet, ImageSet]:
        """Split off a random ``fraction`` (e.g. a validation set); return (rest, held_out).

        Purely random, as the chapter's ``random_split``: the class shares of each part vary a
        little. ``helpers.stratified_split`` (notebook 08) keeps them exact; this one stays
        because notebooks 02 and 06 report results on the splits it makes.
        """
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        held = round(len(self) * fraction)
        return self.take(order[held:]), self.take(order[:held])


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
                      progress: bool = True) -> ImageSet:
    """Decode every image under ``folder/<class>/`` once, resized to size x size.

    Labels follow the alphabetical order of the class folders, as torchvision's ImageFolder;
    hidden folders (``.ipynb_checkpoints``) and ``__MACOSX`` are not classes. ``progress``
    shows a progress bar (it disappears when the pass is done). One thread per core decodes
    (Pillow releases Python's lock while it decodes).
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    if class_names is None:
        class_names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not hidden(p))
    paths, labels = [], []
    for label, name in enumerate(class_names):
        files = list_images(folder / name)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DatasetNotFoundError(f"No images found in the class folders of {folder}.")
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        decoded = pool.map(lambda p: read_image_file(p, size), paths)
        images = list(tqdm(decoded, total=len(paths), desc=f"decoding {folder.name}",
                           unit="image", leave=False, disable=not progress))
    return ImageSet(torch.stack(images), torch.tensor(labels), list(class_names))


class Batches:
    """What every loader here shares: an order of positions per epoch, cut into batches.

    Subclasses say how to draw the order (``_order``) and what a batch is (``_batch``).
    """

    def __init__(self, size: int, batch_size: int, shuffle: bool, device: torch.device,
                 seed: int) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number of images, at least 1, not "
                             f"{batch_size!r}.")
        self.size, self.batch_size, self.shuffle, self.device = size, batch_size, shuffle, device
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)

    def _order(self) -> torch.Tensor:
        """The positions, in the order this epoch visits them."""
        if self.shuffle:
            return torch.randperm(self.size, device=self.device, generator=self.generator)
        return torch.arange(self.size, device=self.device)

    def _batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            yield self._batch(order[start:start + self.batch_size])


class InMemoryLoader(Batches):
    """Yield shuffled (or ordered) batches of normalised float images from an ImageSet.

    The uint8 images stay where they are (GPU or CPU); each batch is indexed, optionally passed
    through ``augment``, converted to float and scaled to (x/255 - mean) / std.
    """

    def __init__(self, data: ImageSet, batch_size: int = 32, shuffle: bool = False,
                 mean: float | tuple[float, ...] = 0.5, std: float | tuple[float, ...] = 0.5,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 seed: int = 0) -> None:
        device = data.images.device
        super().__init__(len(data), batch_size, shuffle, device, seed)
        self.data, self.augment = data, augment
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

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Turn uint8 images into normalised float32 images."""
        return images.float().mul_(self.scale).add_(self.shift)

    def _batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.data.images[index]
        if self.augment is not None:
            images = self.augment(images)
        return self.normalize(images), self.data.labels[index]
