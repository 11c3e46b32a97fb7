"""helpers.data: finding, checking and extracting datasets; loading them into memory."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import helpers
from helpers.data import (
    Archive,
    DatasetCorruptError,
    DatasetNotFoundError,
    ImageSet,
    InMemoryLoader,
    find_split,
    list_images,
    load_image_folder,
    safe_extract,
    verify_file,
)

REAL = Path(os.environ["CONVNET_DATA"])  # the staging folder conftest.py built


# --- archives ------------------------------------------------------------------------------

def test_safe_extract_refuses_members_that_escape(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("fine.txt", "ok")
        z.writestr("../evil.txt", "gotcha")
    destination = tmp_path / "out"
    destination.mkdir()
    with pytest.raises(DatasetCorruptError, match="outside"):
        safe_extract(archive, destination)
    assert not (tmp_path / "evil.txt").exists()
    assert not (destination / "fine.txt").exists()  # nothing is extracted from a bad archive


def test_safe_extract_extracts_a_normal_zip(tmp_path):
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("top/horses/a.txt", "a")
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "top" / "horses" / "a.txt").read_text() == "a"


def test_an_html_page_saved_as_zip_is_reported(tmp_path):
    fake = tmp_path / "rps.zip"
    fake.write_text("<html><body>Access denied</body></html>")
    with pytest.raises(DatasetCorruptError, match="not a valid zip"):
        safe_extract(fake, tmp_path / "out")


def _archive_for(path: Path) -> Archive:
    data = path.read_bytes()
    return Archive("https://example.org/data.zip", hashlib.sha256(data).hexdigest(), len(data))


def test_verify_file_accepts_the_right_file_and_names_a_bad_one(tmp_path):
    good = tmp_path / "data.zip"
    good.write_bytes(os.urandom(5000))
    archive = _archive_for(good)
    verify_file(good, archive)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(DatasetCorruptError, match=r"truncated\.zip.*incomplete"):
        verify_file(truncated, archive)
    changed = tmp_path / "changed.zip"
    changed.write_bytes(b"x" + good.read_bytes()[1:])
    with pytest.raises(DatasetCorruptError, match="SHA-256"):
        verify_file(changed, archive)


# --- finding the image folders -------------------------------------------------------------

def test_our_layout_is_found_and_counted():
    folder = find_split("horse-or-human/validation")
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["horses", "humans"]


def test_the_upstream_layout_is_found_too(tmp_path, monkeypatch):
    real = find_split("horse-or-human/validation")
    upstream = tmp_path / "validation-horse-or-human"
    upstream.mkdir()
    for name in ("horses", "humans"):
        (upstream / name).symlink_to(real / name)
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    assert find_split("horse-or-human/validation") == upstream


def test_an_incomplete_copy_is_reported_with_its_count(tmp_path, monkeypatch):
    real = find_split("horse-or-human/validation")
    copy = tmp_path / "horse-or-human" / "validation"
    shutil.copytree(real, copy)
    list_images(copy / "humans")[0].unlink()
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="holds 127 images but .* has 128"):
        find_split("horse-or-human/validation")


def test_a_missing_dataset_says_what_to_put_where_and_downloads_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as error:
        find_split("horse-or-human/validation")
    message = str(error.value)
    for expected in ("horse-or-human/validation", "horses", "humans",
                     "validation-horse-or-human.zip", str(tmp_path)):
        assert expected in message
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_file_in_place_of_the_archive_is_named(tmp_path, monkeypatch):
    (tmp_path / "rps-test-set.zip").write_bytes(b"<html>moved</html>")
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match=r"rps-test-set\.zip has 18 bytes"):
        find_split("rps/test")


def test_a_data_variable_naming_no_folder_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        find_split("rps/test")


# --- images in memory ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def validation_64():
    return load_image_folder(find_split("horse-or-human/validation"), size=64)


def test_an_image_folder_loads_with_alphabetical_labels(validation_64):
    data = validation_64
    assert data.images.shape == (256, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.class_names == ["horses", "humans"]
    assert torch.bincount(data.labels).tolist() == [128, 128]
    assert data.labels[:128].eq(0).all() and data.labels[128:].eq(1).all()


def test_subset_and_split(validation_64):
    subset = validation_64.subset(per_class=10)
    assert torch.bincount(subset.labels).tolist() == [10, 10]
    rest, held = validation_64.split(fraction=0.2, seed=1)
    assert len(held) == round(256 * 0.2) and len(rest) + len(held) == 256
    whole = torch.cat([rest.images, held.images]).flatten(1)
    assert len({row.numpy().tobytes() for row in whole}) == len(
        {row.numpy().tobytes() for row in validation_64.images.flatten(1)})
    same = validation_64.split(fraction=0.2, seed=1)[1]
    other = validation_64.split(fraction=0.2, seed=2)[1]
    assert torch.equal(same.images, held.images) and not torch.equal(other.images, held.images)


def _toy_set(n: int = 10) -> ImageSet:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    images[0] = 0
    images[-1] = 255
    return ImageSet(images, torch.arange(n), [str(i) for i in range(n)])


def test_loader_in_order_covers_every_image_once_and_normalises():
    loader = InMemoryLoader(_toy_set(), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and len(batches[-1][1]) == 2
    labels = torch.cat([labels for _, labels in batches])
    assert labels.tolist() == list(range(10))
    images = torch.cat([images for images, _ in batches])
    assert images.dtype == torch.float32
    assert images[0].min() == -1 and images[-1].max() == 1


def test_shuffling_is_a_seeded_permutation():
    def order(seed):
        return torch.cat([y for _, y in InMemoryLoader(_toy_set(), 3, shuffle=True, seed=seed)])

    first = order(0)
    assert sorted(first.tolist()) == list(range(10))
    assert torch.equal(first, order(0))
    assert not torch.equal(first, order(1))
    loader = InMemoryLoader(_toy_set(), 3, shuffle=True, seed=0)
    epochs = [torch.cat([y for _, y in loader]) for _ in range(2)]
    assert not torch.equal(epochs[0], epochs[1])  # a new order every epoch


def test_augment_sees_uint8_before_normalisation():
    seen = []

    def spy(batch):
        seen.append(batch.dtype)
        return 255 - batch

    images, _ = next(iter(InMemoryLoader(_toy_set(), batch_size=10, augment=spy)))
    assert seen == [torch.uint8]
    assert images[0].max() == 1  # a black image, inverted to white


# --- Fashion-MNIST and ascent --------------------------------------------------------------

def test_fashion_mnist_loads_through_torchvision_and_warns_about_the_stand_in():
    with pytest.warns(UserWarning, match="NOT FASHION-MNIST"):
        train, test = helpers.load_fashion_mnist()
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (1, 28, 28)
    assert len(train.class_names) == 10 and int(train.labels.max()) <= 9
    assert len(test) > 0


def test_fashion_mnist_missing_offline_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte.*t10k-labels"):
        helpers.load_fashion_mnist()


def test_ascent_loads_offline_and_scipy_can_read_it_afterwards():
    import scipy.datasets

    ascent = helpers.load_ascent()
    assert ascent.shape == (512, 512)
    assert np.array_equal(scipy.datasets.ascent(), ascent)


def test_ascent_missing_or_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="ascent.dat"):
        helpers.load_ascent()
    (tmp_path / "scipy-data").mkdir()
    (tmp_path / "scipy-data" / "ascent.dat").write_bytes(b"not the image")
    with pytest.raises(DatasetCorruptError, match="SHA-256"):
        helpers.load_ascent()


def test_quick_switch(monkeypatch):
    monkeypatch.setenv("CONVNET_QUICK", "1")
    assert helpers.is_quick() and helpers.quick_or_full(2, 15) == 2
    monkeypatch.setenv("CONVNET_QUICK", "0")
    assert not helpers.is_quick() and helpers.quick_or_full(2, 15) == 15
