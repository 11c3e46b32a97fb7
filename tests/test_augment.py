"""Augmentation: per-image random draws, shapes and dtypes kept, applied by the loader."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

import helpers
from helpers.augment import PerImage, chapter_augmentation
from helpers.data import ImageSet


def _stripes(n: int = 8) -> torch.Tensor:
    image = torch.zeros(3, 40, 40, dtype=torch.uint8)
    image[:, :, ::4] = 255
    return image.expand(n, -1, -1, -1).clone()


def test_a_v2_transform_on_a_batch_draws_once_but_per_image_draws_for_each():
    batch = _stripes()
    torch.manual_seed(0)
    together = v2.RandomRotation(40)(batch)
    separately = PerImage(v2.RandomRotation(40))(batch)
    assert all(torch.equal(together[0], image) for image in together[1:])
    assert len({image.numpy().tobytes() for image in separately}) > 1


def test_chapter_augmentation_keeps_shape_and_dtype_and_changes_pixels():
    batch = _stripes()
    torch.manual_seed(0)
    out = chapter_augmentation()(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    assert not torch.equal(out, batch)


def test_colour_jitter_changes_colours_and_only_when_asked():
    torch.manual_seed(0)
    batch = torch.randint(40, 200, (8, 3, 16, 16), dtype=torch.uint8)
    still = dict(degrees=0, shift=0, zoom=0, shear=0, horizontal_flip=False)
    assert torch.equal(chapter_augmentation(**still)(batch), batch)
    coloured = chapter_augmentation(**still, colour=0.3)(batch)
    assert coloured.shape == batch.shape and coloured.dtype == torch.uint8
    changed = (coloured.float() - batch.float()).abs().mean(dim=(1, 2, 3))
    assert (changed > 1).all(), changed  # every image gets its own colour change


def test_loader_augments_training_batches_only_when_asked():
    data = ImageSet(_stripes(), torch.zeros(8, dtype=torch.long), ["stripes"])
    plain = next(iter(helpers.InMemoryLoader(data, batch_size=8)))[0]
    torch.manual_seed(0)
    augmented = next(iter(helpers.InMemoryLoader(data, batch_size=8,
                                                 augment=chapter_augmentation())))[0]
    assert plain.shape == augmented.shape
    assert not torch.equal(plain, augmented)
    assert plain.min() == -1 and plain.max() == 1
