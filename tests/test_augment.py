"""Augmentation: per-image random draws, shapes and dtypes kept, applied by the loader; the
batched version (BatchAugment) against torchvision's v2 transforms applied image by image."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

import helpers
from helpers.augment import (
    BatchAugment,
    PerImage,
    per_image_augmentation,
)
from helpers.data import ImageSet

STILL = dict(degrees=0, shift=0, zoom=0, shear=0, horizontal_flip=False, vertical_flip=False)


def _stripes(n: int = 8) -> torch.Tensor:
    image = torch.zeros(3, 40, 40, dtype=torch.uint8)
    image[:, :, ::4] = 255
    return image.expand(n, -1, -1, -1).clone()


def _pattern(height: int = 48, width: int = 64) -> torch.Tensor:
    """A uint8 RGB image with gradients, stripes and a white block: every move shows."""
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    image = torch.stack([x * 255 // width, y * 255 // height, ((x // 4 + y // 6) % 2) * 200])
    image[:, 10:20, 30:40] = 255
    return image.to(torch.uint8)


def test_a_v2_transform_on_a_batch_draws_once_but_per_image_draws_for_each():
    batch = _stripes()
    torch.manual_seed(0)
    together = v2.RandomRotation(40)(batch)
    separately = PerImage(v2.RandomRotation(40))(batch)
    assert all(torch.equal(together[0], image) for image in together[1:])
    assert len({image.numpy().tobytes() for image in separately}) > 1


def test_batch_augment_keeps_shape_and_dtype_and_changes_pixels():
    batch = _stripes()
    torch.manual_seed(0)
    augment = BatchAugment()
    out = augment(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    assert not torch.equal(out, batch)
    assert repr(augment) == ("BatchAugment(degrees=20, shift=0.2, zoom=0.2, shear=20, "
                             "horizontal_flip=True, vertical_flip=False, fill=0, colour=0.0)")
    per_image = per_image_augmentation()
    assert isinstance(per_image, PerImage) and "RandomAffine" in repr(per_image)
    assert per_image(batch).shape == batch.shape


def test_colour_jitter_changes_colours_and_only_when_asked():
    for augmentation in (BatchAugment, per_image_augmentation):
        torch.manual_seed(0)
        batch = torch.randint(40, 200, (8, 3, 16, 16), dtype=torch.uint8)
        still = dict(degrees=0, shift=0, zoom=0, shear=0, horizontal_flip=False)
        assert torch.equal(augmentation(**still)(batch), batch)
        coloured = augmentation(**still, colour=0.3)(batch)
        assert coloured.shape == batch.shape and coloured.dtype == torch.uint8
        changed = (coloured.float() - batch.float()).abs().mean(dim=(1, 2, 3))
        assert (changed > 1).all(), changed  # every image gets its own colour change
        assert len({image.numpy().tobytes() for image in coloured}) == len(batch)


def test_loader_augments_training_batches_only_when_asked():
    data = ImageSet(_stripes(), torch.zeros(8, dtype=torch.long), ["stripes"])
    plain = next(iter(helpers.InMemoryLoader(data, batch_size=8)))[0]
    torch.manual_seed(0)
    augmented = next(iter(helpers.InMemoryLoader(data, batch_size=8,
                                                 augment=BatchAugment())))[0]
    assert plain.shape == augmented.shape
    assert not torch.equal(plain, augmented)
    assert plain.min() == -1 and plain.max() == 1


def test_every_image_of_a_batch_gets_its_own_draw():
    batch = _pattern().expand(16, -1, -1, -1)  # one image 16 times, as notebook 04 shows it
    torch.manual_seed(0)
    out = BatchAugment(colour=0.3)(batch)
    assert len({image.numpy().tobytes() for image in out}) == 16
    params = BatchAugment().draw_params(batch)
    for name in ("angle", "shift_x", "shift_y", "scale", "shear", "flip_x"):
        assert len(set(params[name].tolist())) > 1, name


def test_with_everything_off_the_batch_comes_back_unchanged():
    uint8 = _pattern().expand(4, -1, -1, -1)
    floats = uint8.float() / 255
    for batch in (uint8, floats):
        assert torch.equal(BatchAugment(**STILL)(batch), batch)
    # zero ranges with the move switched on: the identity move, exact up to rounding
    assert torch.equal(BatchAugment(**(STILL | dict(zoom=1e-9)))(uint8), uint8)


def _torchvision_affine(image: torch.Tensor, params: dict, i: int, fill: float) -> torch.Tensor:
    """Image ``i`` moved by ``params`` with v2.functional: affine, then the flips."""
    moved = TF.affine(image, angle=params["angle"][i].item(),
                      translate=[params["shift_x"][i].item(), params["shift_y"][i].item()],
                      scale=params["scale"][i].item(), shear=[params["shear"][i].item(), 0.0],
                      interpolation=v2.InterpolationMode.BILINEAR, fill=fill)
    if params["flip_x"][i]:
        moved = TF.horizontal_flip(moved)
    if params["flip_y"][i]:
        moved = TF.vertical_flip(moved)
    return moved


def test_given_parameters_move_each_image_as_torchvision_affine_does():
    """Same angle, shifts, zoom, shear and flips: the same picture as v2.functional.affine.

    Where torchvision reads only pixels inside the picture, the two agree to 1 grey level
    (float rounding; in practice exactly). In the one-pixel band along the picture's edge they
    differ: torchvision multiplies the image by its coverage mask twice there, BatchAugment
    blends image and fill once; so the mean over all pixels is allowed 1.5 grey levels.
    """
    image = _pattern()  # not square: the aspect ratio matters in grid_sample's [-1, 1] units
    batch = image.expand(12, -1, -1, -1)
    torch.manual_seed(1)
    for fill in (0, 255):
        augment = BatchAugment(degrees=30, shift=0.2, zoom=0.2, shear=20, horizontal_flip=True,
                               vertical_flip=True, fill=fill)
        params = augment.draw_params(batch)
        assert params["flip_x"].any() and params["flip_y"].any() and not params["flip_y"].all()
        out = augment.apply(batch, params)
        for i in range(len(batch)):
            expected = _torchvision_affine(image, params, i, fill).float()
            inside = _torchvision_affine(torch.ones(1, *image.shape[1:]), params, i, 0) == 1
            difference = (out[i].float() - expected).abs()
            assert difference[inside.expand_as(difference)].max() <= 1, (fill, i)
            assert difference.mean() < 1.5, (fill, i, difference.mean())


def _ks(a: torch.Tensor, b: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance: the largest gap between two empirical distributions."""
    a, b = a.double().sort().values, b.double().sort().values
    points = torch.cat([a, b])
    cdf_a = torch.searchsorted(a, points, right=True) / len(a)
    cdf_b = torch.searchsorted(b, points, right=True) / len(b)
    return (cdf_a - cdf_b).abs().max().item()


def test_draws_follow_the_distributions_of_torchvisions_transforms():
    """2,000 draws of each parameter against 2,000 of v2.RandomAffine / ColorJitter.

    Kolmogorov-Smirnov distance < 0.07 (for two samples of 2,000 from one distribution it
    exceeds that with probability ~1e-4; a range off by 10% already gives ~0.05-0.1, a factor
    of 2 about 0.25+); flip rates within 4 binomial standard deviations (0.045) of 0.5.
    """
    n, size = 2000, (40, 50)
    settings = dict(degrees=20, shift=0.2, zoom=0.2, shear=20, colour=0.3)
    torch.manual_seed(0)
    ours = BatchAugment(**settings, vertical_flip=True).draw_params(
        torch.zeros(n, 3, *size, dtype=torch.uint8))
    affine = v2.RandomAffine(degrees=20, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=20)
    jitter = v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05)
    image = torch.zeros(3, *size)
    theirs: dict[str, list[float]] = {}
    for _ in range(n):
        a, c = affine.make_params([image]), jitter.make_params([image])
        for name, value in (("angle", a["angle"]), ("shift_x", a["translate"][0]),
                            ("shift_y", a["translate"][1]), ("scale", a["scale"]),
                            ("shear", a["shear"][0]), ("brightness", c["brightness_factor"]),
                            ("contrast", c["contrast_factor"]),
                            ("saturation", c["saturation_factor"]), ("hue", c["hue_factor"])):
            theirs.setdefault(name, []).append(value)
    for name, values in theirs.items():
        values = torch.tensor(values, dtype=torch.float64)
        assert _ks(ours[name], values) < 0.07, name
    for name, low, high in (("angle", -20, 20), ("shear", -20, 20), ("scale", 0.8, 1.2),
                            ("brightness", 0.7, 1.3), ("contrast", 0.7, 1.3),
                            ("saturation", 0.7, 1.3), ("hue", -0.05, 0.05)):
        values, margin = ours[name], (high - low) * 0.01
        assert low - 1e-6 <= values.min() < low + margin, name  # fills the whole range
        assert high - margin < values.max() <= high + 1e-6, name
    assert ours["shift_x"].abs().max() == 10 and ours["shift_y"].abs().max() == 8  # 0.2 x 50, 40
    assert torch.equal(ours["shift_x"], ours["shift_x"].round())  # whole pixels, as torchvision
    for flips in (ours["flip_x"], ours["flip_y"]):
        assert abs(flips.double().mean().item() - 0.5) < 0.045
    unflipped = BatchAugment(**settings, horizontal_flip=False)
    no_flip = unflipped.draw_params(image.expand(9, -1, -1, -1))
    assert not no_flip["flip_x"].any() and not no_flip["flip_y"].any()


def _centroids(batch: torch.Tensor) -> torch.Tensor:
    """The brightness-weighted centre (x, y) of each image's red channel: [N, 2]."""
    red = batch[:, 0].double()
    y, x = torch.meshgrid(torch.arange(red.shape[1]), torch.arange(red.shape[2]), indexing="ij")
    mass = red.sum(dim=(1, 2))
    return torch.stack([(red * x).sum(dim=(1, 2)) / mass, (red * y).sum(dim=(1, 2)) / mass], 1)


def test_a_bright_square_moves_alike_under_both_versions():
    """600 augmentations of an off-centre square: its centre spreads alike (standard deviation
    of x and y within 15%, ~3.5 standard errors; means within 1 pixel), and its area (zoom²)
    too (mean within 5%)."""
    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    image[:, 21:27, 35:41] = 255  # centred 6 pixels right of and 8 above the middle
    batch = image.expand(600, -1, -1, -1)
    settings = dict(vertical_flip=True)  # the chapter's defaults and both flips
    torch.manual_seed(0)
    ours = BatchAugment(**settings)(batch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 600 tiny calls: 0.3 s on one thread, 5 s on two busy cores
    try:
        theirs = per_image_augmentation(**settings)(batch)
    finally:
        torch.set_num_threads(threads)
    ours_xy, theirs_xy = _centroids(ours), _centroids(theirs)
    assert ((ours_xy.mean(0) - theirs_xy.mean(0)).abs() < 1).all()
    ratio = ours_xy.std(0) / theirs_xy.std(0)
    assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio
    assert ours_xy.std(0).min() > 5  # it does move: rotation, flips and shifts
    area = ours.double().sum(dim=(1, 2, 3)).mean() / theirs.double().sum(dim=(1, 2, 3)).mean()
    assert 0.95 < area < 1.05, area


def test_fill_colours_the_pixels_brought_in_from_outside():
    black = torch.zeros(2, 3, 32, 48, dtype=torch.uint8)
    for fill, batch, white in ((255, black, 255), (0, black + 255, 0),
                               (255, black.float(), 1.0)):  # float images: 0-1, white is 1
        augment = BatchAugment(fill=fill)
        params = augment.draw_params(batch)
        params["scale"].fill_(0.5)  # half size, about the middle: the corners come from outside
        params["shift_x"].zero_()
        params["shift_y"].zero_()
        out = augment.apply(batch, params)
        assert out.dtype == batch.dtype
        for corner in (out[..., :3, :3], out[..., :3, -3:], out[..., -3:, :3], out[..., -3:, -3:]):
            assert (corner == white).all(), (fill, corner)
        middle = (slice(None), slice(None), slice(14, 18), slice(22, 26))
        assert torch.allclose(out[middle], batch[middle], atol=1e-6)  # the middle stays


def test_colour_changes_match_torchvisions_where_nothing_clips():
    """Brightness, contrast then saturation as v2.functional's adjust_*, to float precision,
    on colours that no step pushes past black or white; hue turns the same way by about as
    much (torchvision goes through HSV, BatchAugment turns about the grey axis)."""
    torch.manual_seed(0)
    images = 0.35 + 0.3 * torch.rand(6, 3, 16, 16)  # float images, 0-1
    augment = BatchAugment(**STILL, colour=0.3)
    params = augment.draw_params(images)
    hue = params["hue"].clone()
    params["hue"].zero_()
    out = augment.apply(images, params)
    for i, image in enumerate(images):
        expected = TF.adjust_brightness(image, params["brightness"][i].item())
        expected = TF.adjust_contrast(expected, params["contrast"][i].item())
        expected = TF.adjust_saturation(expected, params["saturation"][i].item())
        assert (out[i] - expected).abs().max() < 1e-5
    for turn in (0.05, -0.05):  # colour=0.3 draws hue shifts up to 0.05
        params = {name: torch.ones(6) if name in ("brightness", "contrast", "saturation")
                  else values for name, values in params.items()}
        params["hue"] = torch.full((6,), turn)
        ours = augment.apply(images, params) - images
        theirs = torch.stack([TF.adjust_hue(image, turn) for image in images]) - images
        assert F.cosine_similarity(ours.flatten(), theirs.flatten(), dim=0) > 0.7
        assert 0.8 < ours.abs().mean() / theirs.abs().mean() < 1.5
    assert hue.abs().max() <= 0.05 + 1e-7 and len(set(hue.tolist())) == 6
    grey = torch.full((2, 3, 4, 4), 0.5)
    params = augment.draw_params(grey)
    params["brightness"].fill_(1)
    params["contrast"].fill_(1)
    # hue and saturation keep greys (to 1e-4: torchvision's grey weights add up to 0.9999)
    assert torch.allclose(augment.apply(grey, params), grey, atol=1e-4)


def test_float_and_grey_batches_and_seeds():
    torch.manual_seed(0)
    uint8 = _pattern().expand(4, -1, -1, -1)
    augment = BatchAugment(fill=255, colour=0.3, vertical_flip=True)
    params = augment.draw_params(uint8)
    as_uint8 = augment.apply(uint8, params)
    as_float = augment.apply(uint8.float() / 255, params)
    assert as_float.dtype == torch.float32 and as_float.shape == uint8.shape
    assert 0 <= as_float.min() and as_float.max() <= 1
    assert (as_float * 255 - as_uint8.float()).abs().max() <= 0.5 + 1e-3  # rounding only
    assert augment.apply(uint8.double() / 255, params).dtype == torch.float64
    grey = _pattern()[:1].expand(4, -1, -1, -1)  # one channel: brightness and contrast only
    assert augment(grey).shape == grey.shape
    first = BatchAugment(colour=0.3, generator=torch.Generator().manual_seed(7))(uint8)
    again = BatchAugment(colour=0.3, generator=torch.Generator().manual_seed(7))(uint8)
    assert torch.equal(first, again)
    torch.manual_seed(3)
    first = augment(uint8)
    torch.manual_seed(3)
    assert torch.equal(augment(uint8), first)


def test_everything_stays_on_the_batchs_device():
    """On the meta device (shapes, no data) any read of a value on the host (.item(), a
    Python if on a tensor) or any CPU tensor mixed in would fail: none happens per batch."""
    augment = BatchAugment(fill=255, colour=0.3, vertical_flip=True)
    for dtype in (torch.uint8, torch.float16):
        batch = torch.empty(4, 3, 32, 40, dtype=dtype, device="meta")
        out = augment(batch)
        assert out.device.type == "meta" and out.dtype == dtype and out.shape == batch.shape
    if torch.cuda.is_available():  # the same parameters give the same pictures on a GPU
        batch = _pattern().expand(4, -1, -1, -1)
        params = augment.draw_params(batch)
        on_gpu = augment.apply(batch.cuda(), {k: v.cuda() for k, v in params.items()})
        assert on_gpu.is_cuda
        assert (on_gpu.cpu().float() - augment.apply(batch, params).float()).abs().max() <= 1


def test_paste_on_background_replaces_only_the_white_pixels():
    from helpers.augment import paste_on_background

    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    images[:, :, 2:6, 2:6] = 40  # the "hand"
    photo = torch.arange(20 * 20, dtype=torch.int64).remainder(200).to(torch.uint8).view(20, 20)
    pasted = paste_on_background(images, photo, seed=1)
    assert torch.equal(pasted[:, :, 2:6, 2:6], images[:, :, 2:6, 2:6])  # the hand is kept
    assert (pasted[:, :, :2] < 200).all()  # the white is gone, replaced by the photo
    assert torch.equal(images[0, 0, 0], torch.full((8,), 255, dtype=torch.uint8))  # a copy
    assert torch.equal(pasted, paste_on_background(images, photo, seed=1))  # seeded
    with pytest.raises(ValueError, match="smaller than the images"):
        paste_on_background(images, photo[:4, :4])
    with pytest.raises(ValueError, match=r"uint8 colour images \[N, 3, H, W\]"):
        paste_on_background(images.float(), photo)
