"""Drawing data: an imbalanced copy of a dataset, stratified splits, a check that no image is
in two splits, and a loader that oversamples with a WeightedRandomSampler."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from itertools import combinations

import torch
from torch.utils.data import WeightedRandomSampler

from helpers.data import ImageSet, InMemoryLoader
from helpers.metrics import class_counts


def make_imbalanced(data: ImageSet, keep: dict[str, float], seed: int = 0) -> ImageSet:
    """Return a copy of ``data`` keeping only a random fraction of some classes' images.

    ``keep`` maps class names to the fraction to keep, e.g. ``{"rock": 0.08}``; classes not
    named keep all their images. At least one image of each class is kept.
    """
    for name, fraction in keep.items():
        if name not in data.class_names:
            raise ValueError(f"unknown class {name!r}; the classes are {data.class_names}.")
        if not 0 < fraction <= 1:
            raise ValueError(f"the fraction of {name!r} to keep must be in (0, 1], "
                             f"got {fraction}.")
    generator = torch.Generator().manual_seed(seed)
    index = []
    for label, name in enumerate(data.class_names):
        members = data.shuffled_class(label, generator)
        count = max(1, round(len(members) * keep.get(name, 1.0)))
        index.append(members[:count])
    return data.take(*index)


def stratified_split(data: ImageSet, fraction: float = 0.2,
                     seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Hold out a random ``fraction`` of each class (e.g. a validation set); return (rest, held)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}.")
    generator = torch.Generator().manual_seed(seed)
    rest, held = [], []
    for label in range(len(data.class_names)):
        members = data.shuffled_class(label, generator)
        count = round(len(members) * fraction)
        held.append(members[:count])
        rest.append(members[count:])
    return data.take(*rest), data.take(*held)


def image_hashes(data: ImageSet) -> list[str]:
    """Return the SHA-256 of each image's pixels (and shape): equal images, equal hashes."""
    images = data.images.cpu().contiguous()
    return [hashlib.sha256(str(tuple(image.shape)).encode() + image.numpy().tobytes()).hexdigest()
            for image in images]


def find_overlaps(**sets: ImageSet) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """Find images that sit in two of the named sets, by the hash of their pixels.

    Call it as ``find_overlaps(train=..., validation=..., test=...)``. Returns, for every
    pair of names, the list of (index in first set, index in second set) of identical
    images; an empty list means that pair shares nothing.
    """
    if len(sets) < 2:
        raise ValueError("find_overlaps needs at least two named sets to compare.")
    where = {}
    for name, data in sets.items():
        where[name] = {}
        for i, digest in enumerate(image_hashes(data)):
            where[name].setdefault(digest, []).append(i)
    overlaps = {}
    for first, second in combinations(sets, 2):
        shared = where[first].keys() & where[second].keys()
        overlaps[(first, second)] = sorted(
            (i, j) for digest in shared for i in where[first][digest]
            for j in where[second][digest])
    return overlaps


def balanced_sample_weights(data: ImageSet) -> torch.Tensor:
    """Return one weight per image, 1 / (images in its class): every class is drawn equally."""
    counts = class_counts(data).double()
    return 1 / counts[data.labels.cpu()]


class SampledLoader(InMemoryLoader):
    """Batches drawn with replacement, image i with probability ∝ ``weights[i]``.

    With ``balanced_sample_weights`` each class appears in about equal numbers: the rare
    images are repeated (oversampling) and each epoch sees only part of the common ones.
    Batches are normalised (and augmented) exactly as by InMemoryLoader.
    """

    def __init__(self, data: ImageSet, weights: torch.Tensor, num_samples: int | None = None,
                 batch_size: int = 32, mean: float | tuple[float, ...] = 0.5,
                 std: float | tuple[float, ...] = 0.5,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 seed: int = 0) -> None:
        super().__init__(data, batch_size, shuffle=True, mean=mean, std=std, augment=augment,
                         seed=seed)
        if len(weights) != len(data):
            raise ValueError(f"got {len(weights)} weights for {len(data)} images.")
        self.size = self.num_samples = num_samples or len(data)  # images an epoch draws
        self.sampler = WeightedRandomSampler(
            torch.as_tensor(weights, dtype=torch.float64).cpu(), self.num_samples,
            replacement=True, generator=torch.Generator().manual_seed(seed))

    def _order(self) -> torch.Tensor:
        """This epoch's draws; InMemoryLoader cuts them into batches."""
        return torch.tensor(list(self.sampler), device=self.data.images.device)
