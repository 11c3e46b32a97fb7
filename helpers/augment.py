"""Image augmentation on batches: the whole batch at once on its device (BatchAugment), or
torchvision's v2 transforms image by image (PerImage); and photos shot on white pasted on a busy
background (paste_on_background)."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
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


class BatchAugment:
    """Random affine moves, flips and colour changes for a whole [N, C, H, W] batch at once.

    Each image gets its own random draw, as with ``PerImage``, but the draws are tensors on the
    batch's device and all images move in ONE ``grid_sample`` call: no Python loop per image.
    The parameters follow torchvision's ``RandomAffine`` (angle in degrees, shift in whole
    pixels up to ``shift`` of the width and height, zoom about the centre, shear along x), then
    the flips, then ``ColorJitter``'s factors, so that the same parameters move an image as
    ``v2.functional.affine`` does. uint8 batches are 0-255 images, float batches 0-1 images;
    ``fill`` is given on the 0-255 scale (0 black, 255 white) either way.
    """

    def __init__(self, degrees: float = 20, shift: float = 0.2, zoom: float = 0.2,
                 shear: float = 20, horizontal_flip: bool = True, vertical_flip: bool = False,
                 fill: int = 0, colour: float = 0.0,
                 generator: torch.Generator | None = None) -> None:
        self.degrees, self.shift, self.zoom, self.shear = degrees, shift, zoom, shear
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.fill, self.colour, self.generator = fill, colour, generator
        self.moves = any((degrees, shift, zoom, shear, horizontal_flip, vertical_flip))

    def __repr__(self) -> str:
        return (f"BatchAugment(degrees={self.degrees}, shift={self.shift}, zoom={self.zoom}, "
                f"shear={self.shear}, horizontal_flip={self.horizontal_flip}, "
                f"vertical_flip={self.vertical_flip}, fill={self.fill}, colour={self.colour})")

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.apply(batch, self.draw_params(batch))

    def draw_params(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """One random draw per image: a dict of [N] tensors on the batch's device."""
        n, height, width = len(batch), batch.shape[-2], batch.shape[-1]

        def uniform(low: float, high: float) -> torch.Tensor:
            u = torch.rand(n, device=batch.device, generator=self.generator)
            return low + (high - low) * u

        def flips(wanted: bool) -> torch.Tensor:
            return (uniform(0, 1) < 0.5) & wanted

        c = self.colour
        return {
            "angle": uniform(-self.degrees, self.degrees),
            # shifts in whole pixels, as torchvision draws them
            "shift_x": uniform(-self.shift, self.shift).mul(width).round(),
            "shift_y": uniform(-self.shift, self.shift).mul(height).round(),
            "scale": uniform(1 - self.zoom, 1 + self.zoom),
            "shear": uniform(-self.shear, self.shear),
            "flip_x": flips(self.horizontal_flip),
            "flip_y": flips(self.vertical_flip),
            "brightness": uniform(max(0, 1 - c), 1 + c),
            "contrast": uniform(max(0, 1 - c), 1 + c),
            "saturation": uniform(max(0, 1 - c), 1 + c),
            "hue": uniform(-c / 6, c / 6),  # a fraction of the colour circle
        }

    def apply(self, batch: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Move and recolour each image of ``batch`` with its own ``params``."""
        white = 1.0 if batch.is_floating_point() else 255.0
        images = batch.to(torch.promote_types(batch.dtype, torch.float32))  # uint8 -> float32
        if self.moves:
            matrices = self.matrices(params, *batch.shape[-2:]).to(images.dtype)
            grid = F.affine_grid(matrices, list(images.shape), align_corners=False)
            # grid_sample brings in zeros from outside: sample (image - fill), add fill back
            fill = self.fill / 255 * white
            images = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros",
                                   align_corners=False).add_(fill)
        if self.colour:
            images = recolour(images, params, white)
        if batch.is_floating_point():
            return images.to(batch.dtype)
        return images.round_().clamp_(0, 255).to(batch.dtype)

    @staticmethod
    def matrices(params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """[N, 2, 3] matrices for ``F.affine_grid``: where each output pixel is read from.

        torchvision's matrix inverted, in pixels about the image centre, with the flips
        (applied after the affine move) folded in, then rescaled to grid_sample's [-1, 1].
        """
        angle, shear = torch.deg2rad(params["angle"]), torch.deg2rad(params["shear"])
        # forward move: rotation times x-shear [[a, b], [c, d]] (determinant 1), times scale
        a, c = torch.cos(angle), torch.sin(angle)
        b, d = -(a * torch.tan(shear) + c), a - c * torch.tan(shear)
        scale = params["scale"]
        # its inverse, column by column; a flip reverses an output axis: its column's sign
        sign_x = 1 - 2 * params["flip_x"].to(a.dtype)
        sign_y = 1 - 2 * params["flip_y"].to(a.dtype)
        m00, m10 = d / scale * sign_x, -c / scale * sign_x
        m01, m11 = -b / scale * sign_y, a / scale * sign_y
        # the shift is undone after the move: -inverse @ shift
        tx, ty = params["shift_x"], params["shift_y"]
        m02 = -(d * tx - b * ty) / scale
        m12 = -(-c * tx + a * ty) / scale
        # pixels about the centre -> [-1, 1] across the width and the height
        return torch.stack([
            torch.stack([m00, m01 * height / width, m02 * 2 / width], dim=1),
            torch.stack([m10 * width / height, m11, m12 * 2 / height], dim=1),
        ], dim=1)


LUMA = (0.2989, 0.587, 0.114)  # torchvision's grey: 0.2989 red + 0.587 green + 0.114 blue


@functools.cache
def _colour_axes(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Two constant 3x3 matrices, copied to ``device`` once (a copy to a GPU waits for it):
    every channel replaced by the grey level, and the cross product ``k x rgb`` with the unit
    grey axis k = (1, 1, 1) / sqrt(3)."""
    to_grey = torch.tensor([LUMA] * 3, dtype=dtype, device=device)
    across = torch.tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=dtype, device=device)
    return to_grey, across / math.sqrt(3)


def recolour(images: torch.Tensor, params: dict[str, torch.Tensor],
             white: float) -> torch.Tensor:
    """ColorJitter on a float batch in [0, white], folded per image into ONE 3x3 colour matrix
    and offset, applied in one batched matrix product, then clipped to [0, white] once.

    brightness: rgb x factor; contrast: towards the image's mean grey; saturation: towards each
    pixel's grey; hue: a turn of ``hue`` x 360 degrees about the grey axis (Rodrigues' rotation
    formula) instead of torchvision's round trip through HSV: the same direction (red, yellow,
    green...) and about the same size. torchvision clips after every step and shuffles their
    order; the results differ only where a step pushes a colour past black or white.
    """
    n, channels = images.shape[:2]

    def per_image(name: str) -> torch.Tensor:
        return params[name].view(n, 1, 1)

    brightness, contrast = per_image("brightness"), per_image("contrast")
    means = images.mean(dim=(2, 3)).view(n, channels, 1)  # one reduction over the batch
    if channels == 3:
        mean_grey = sum(weight * means[:, c] for c, weight in enumerate(LUMA))
    else:
        mean_grey = means.mean(dim=1)
    gain = brightness * contrast  # x -> gain x + shift: brightness, then contrast
    shift = (1 - contrast) * brightness * mean_grey.view(n, 1, 1)
    if channels != 3:  # saturation and hue need colour
        return (images * gain.view(n, 1, 1, 1) + shift.view(n, 1, 1, 1)).clamp(0, white)
    eye = torch.eye(3, dtype=images.dtype, device=images.device)
    to_grey, across = _colour_axes(images.device, images.dtype)
    saturation = per_image("saturation")
    saturate = saturation * eye + (1 - saturation) * to_grey
    turn = 2 * math.pi * per_image("hue")
    rotate = torch.cos(turn) * eye + torch.sin(turn) * across + (1 - torch.cos(turn)) / 3
    matrix = rotate @ saturate  # [N, 3, 3]: out = matrix @ (gain x + shift)
    flat = images.reshape(n, 3, -1)
    out = torch.baddbmm(shift * matrix.sum(dim=2, keepdim=True), gain * matrix, flat)
    return out.clamp_(0, white).view_as(images)


def per_image_augmentation(degrees: float = 20, shift: float = 0.2, zoom: float = 0.2,
                           shear: float = 20, horizontal_flip: bool = True,
                           vertical_flip: bool = False, fill: int = 0,
                           colour: float = 0.0) -> PerImage:
    """BatchAugment's augmentations with torchvision's v2 transforms, image by image, as the
    chapter writes them (slower: notebook 04 times both)."""
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


def paste_on_background(images: torch.Tensor, photo: torch.Tensor, seed: int = 0,
                        white: int = 200) -> torch.Tensor:
    """Copies of uint8 images [N, 3, H, W] shot on white, their white pixels replaced by a
    random H x W patch of ``photo`` ([H', W'] grey or [3, H', W'] colour, uint8) each.

    A pixel counts as background when every channel is above ``white``. Notebooks 06 and 09
    use it to show what a model trained on white backgrounds does with a busy one.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"paste_on_background needs uint8 colour images [N, 3, H, W], not "
                         f"{images.dtype} {tuple(images.shape)}.")
    photo = (photo if photo.ndim == 3 else photo.unsqueeze(0)).expand(3, -1, -1).to(images)
    height, width = images.shape[-2:]
    if photo.shape[-2] < height or photo.shape[-1] < width:
        raise ValueError(f"The background photo ({tuple(photo.shape[-2:])}) is smaller than "
                         f"the images ({height}, {width}).")
    generator = torch.Generator().manual_seed(seed)
    result = images.clone()
    for image in result:
        top = int(torch.randint(0, photo.shape[-2] - height + 1, (), generator=generator))
        left = int(torch.randint(0, photo.shape[-1] - width + 1, (), generator=generator))
        background = (image.min(dim=0).values > white).expand(3, -1, -1)
        image[background] = photo[:, top:top + height, left:left + width][background]
    return result
