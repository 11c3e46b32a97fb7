"""Image augmentation on batches of uint8 tensors, with torchvision's v2 transforms."""

from __future__ import annotations

import torch
from torchvision.transforms import v2


class PerImage:
    """Apply a random transform to each image of a batch separately.

    A v2 transform called on a [N, C, H, W] tensor draws ONE set of random parameters and
    applies it to all N images; calling it per image gives each image its own.
    """

    def __init__(self, transform) -> None:
        self.transform = transform

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(image) for image in batch])

    def __repr__(self) -> str:
        return f"PerImage({self.transform})"


def chapter_augmentation(degrees: float = 20, shift: float = 0.2, zoom: float = 0.2,
                         shear: float = 20, horizontal_flip: bool = True,
                         vertical_flip: bool = False, fill: int = 0,
                         colour: float = 0.0) -> PerImage:
    """The chapter's augmentations: rotation, shifts, zoom, shear and flips, drawn per image.

    ``fill`` is the value of the pixels moved in from outside the picture (0 black, 255 white).
    ``colour`` > 0 also changes brightness, contrast and saturation by a random factor in
    [1 - colour, 1 + colour] and shifts the hue by up to colour / 6 (not in the chapter).
    """
    steps = [v2.RandomAffine(degrees=degrees, translate=(shift, shift),
                             scale=(1 - zoom, 1 + zoom), shear=shear,
                             interpolation=v2.InterpolationMode.BILINEAR, fill=fill)]
    if horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if vertical_flip:
        steps.append(v2.RandomVerticalFlip())
    if colour:
        steps.append(v2.ColorJitter(brightness=colour, contrast=colour, saturation=colour,
                                    hue=colour / 6))
    return PerImage(v2.Compose(steps))
