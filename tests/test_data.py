"""Tests of helpers.data, datasets, downloads and settings: safe extraction, checksums, finding
and loading datasets, the in-memory loader, the ascent image, QUICK mode.

The real Horses-or-Humans images come from the data folder conftest.py stages (symlinks to
CONVNET_DATA); tests that need them skip, saying so, when that folder does not hold them.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import data, datasets, downloads, readers
from helpers.data import ImageSet, InMemoryLoader, load_image_folder
from helpers.datasets import ImageFolderSplit, find_split
from helpers.downloads import Archive, safe_extract, verify_file
from helpers.readers import load_ascent
from helpers.settings import (
    DatasetCorruptError,
    DatasetNotFoundError,
    data_root,
    is_quick,
    quick_or_full,
)

HOH_VALIDATION = "horse-or-human/validation"


@pytest.fixture(scope="session")
def hoh_validation(real_data) -> Path:
    """The real Horses-or-Humans validation folder (classes horses/ and humans/)."""
    return real_data(HOH_VALIDATION)


@pytest.fixture
def no_download(monkeypatch):
    """Make any attempt to download fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(datasets, "download", refuse)
    monkeypatch.setattr(downloads.urllib.request, "urlopen", refuse)


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name), content)
    return path


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------------------
# safe_extract
# --------------------------------------------------------------------------------------


def test_safe_extract_extracts_a_normal_zip(tmp_path):
    zip_path = write_zip(tmp_path / "ok.zip", {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    destination = tmp_path / "out"
    safe_extract(zip_path, destination)
    assert (destination / "a.txt").read_bytes() == b"alpha"
    assert (destination / "sub" / "b.txt").read_bytes() == b"beta"
    assert len(files_under(destination)) == 2


@pytest.mark.parametrize("bad_name", ["../evil.txt", "sub/../../evil.txt", "ABSOLUTE"])
def test_safe_extract_refuses_members_outside_destination(tmp_path, bad_name):
    work = tmp_path / "work"
    work.mkdir()
    if bad_name == "ABSOLUTE":
        bad_name = str(tmp_path / "evil.txt")  # an absolute path
    # A harmless member first: refusing must happen before anything is written.
    zip_path = write_zip(tmp_path / "bad.zip", {"fine.txt": b"fine", bad_name: b"evil"})
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist()[-1] == bad_name  # stored as given, not cleaned up
    destination = work / "out"
    with pytest.raises(DatasetCorruptError, match="outside") as caught:
        safe_extract(zip_path, destination)
    assert "bad.zip" in str(caught.value)
    assert not (tmp_path / "evil.txt").exists()
    assert not (work / "evil.txt").exists()
    assert files_under(tmp_path) == [zip_path]  # nothing extracted, inside or out


def test_safe_extract_refuses_symbolic_links(tmp_path):
    link = zipfile.ZipInfo("link")
    link.external_attr = (0o120777 << 16)  # a symbolic link, as `zip --symlinks` stores it
    zip_path = tmp_path / "links.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(DatasetCorruptError, match="symbolic link"):
        safe_extract(zip_path, tmp_path / "out")
    assert not (tmp_path / "out" / "link").exists()


def test_safe_extract_rejects_a_file_that_is_not_a_zip(tmp_path):
    page = tmp_path / "horse-or-human.zip"
    page.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>")
    with pytest.raises(DatasetCorruptError, match="not a valid zip file") as caught:
        safe_extract(page, tmp_path / "out")
    assert str(page) in str(caught.value)
    assert files_under(tmp_path / "out") == []


# --------------------------------------------------------------------------------------
# verify_file
# --------------------------------------------------------------------------------------


@pytest.fixture
def small_archive(tmp_path) -> tuple[Path, Archive]:
    content = bytes(range(256)) * 40
    path = tmp_path / "sample.zip"
    path.write_bytes(content)
    archive = Archive("https://example.org/files/sample.zip",
                      hashlib.sha256(content).hexdigest(), len(content))
    return path, archive


def test_verify_file_accepts_the_right_file(small_archive):
    path, archive = small_archive
    assert archive.filename == "sample.zip"
    verify_file(path, archive)  # raises if wrong


def test_verify_file_rejects_a_truncated_file(small_archive, tmp_path):
    path, archive = small_archive
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetCorruptError, match="incomplete") as caught:
        verify_file(truncated, archive)
    message = str(caught.value)
    assert str(truncated) in message
    assert f"{archive.size - 100:,}" in message and f"{archive.size:,}" in message


def test_verify_file_rejects_changed_bytes_of_the_right_size(small_archive, tmp_path):
    path, archive = small_archive
    content = bytearray(path.read_bytes())
    content[1234] ^= 0xFF
    changed = tmp_path / "changed.zip"
    changed.write_bytes(bytes(content))
    assert changed.stat().st_size == archive.size
    with pytest.raises(DatasetCorruptError, match="SHA-256") as caught:
        verify_file(changed, archive)
    assert str(changed) in str(caught.value)


# --------------------------------------------------------------------------------------
# find_split
# --------------------------------------------------------------------------------------


def test_find_split_on_our_layout(hoh_validation, no_download):
    folder = find_split(HOH_VALIDATION)
    assert folder.resolve() == hoh_validation.resolve()
    datasets.check_counts(folder, datasets.SPLITS[HOH_VALIDATION])  # raises if a count is off


def test_find_split_on_the_upstream_layout(hoh_validation, tmp_path, monkeypatch, no_download):
    upstream = tmp_path / "validation-horse-or-human"
    upstream.mkdir()
    for name in ("horses", "humans"):
        (upstream / name).symlink_to(hoh_validation.resolve() / name)
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    assert find_split(HOH_VALIDATION) == upstream


def class_folders(source: Path, target: Path, counts: dict[str, int | None],
                  copy: bool = False) -> Path:
    """``target/<class>/`` holding the first ``counts[class]`` images (None: all) of each of
    ``source``'s class folders, linked (or copied, to be changed) there."""
    for name, count in counts.items():
        (target / name).mkdir(parents=True)
        for image in data.list_images(source / name)[:count]:
            if copy:
                shutil.copyfile(image, target / name / image.name)
            else:
                (target / name / image.name).symlink_to(image.resolve())
    return target


def copy_validation(source: Path, root: Path) -> Path:
    return class_folders(source, root / HOH_VALIDATION, {"horses": None, "humans": None},
                         copy=True)


def test_find_split_ignores_files_that_are_not_images(hoh_validation, tmp_path, monkeypatch,
                                                      no_download):
    target = copy_validation(hoh_validation, tmp_path)
    (target / "horses" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (target / "humans" / "notes.txt").write_text("not an image")
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    assert find_split(HOH_VALIDATION) == target


def test_find_split_rejects_a_class_folder_missing_an_image(hoh_validation, tmp_path,
                                                           monkeypatch, no_download):
    target = copy_validation(hoh_validation, tmp_path)
    data.list_images(target / "humans")[-1].unlink()
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="127 images") as caught:
        find_split(HOH_VALIDATION)
    message = str(caught.value)
    assert str(target / "humans") in message and "128" in message


def test_find_split_names_what_is_missing_and_never_downloads(tmp_path, monkeypatch,
                                                             no_download):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as caught:
        find_split(HOH_VALIDATION)
    message = str(caught.value)
    for expected in (HOH_VALIDATION, "horses", "humans", "validation-horse-or-human.zip"):
        assert expected in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["", "downloads"])
def test_find_split_rejects_a_wrong_file_named_like_the_archive(tmp_path, monkeypatch,
                                                               no_download, where):
    (tmp_path / where).mkdir(exist_ok=True)
    junk = tmp_path / where / "rps-test-set.zip"
    junk.write_bytes(b"<html>404 Not Found</html>")
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="incomplete") as caught:
        find_split("rps/test")
    message = str(caught.value)
    assert str(junk) in message and "rps-test-set.zip" in message
    assert not (tmp_path / "rps" / "test").exists()


def test_find_split_rejects_a_file_of_the_right_size_with_other_bytes(tmp_path, monkeypatch,
                                                                     no_download):
    split = datasets.SPLITS[HOH_VALIDATION]
    zeros = tmp_path / split.archive.filename
    with open(zeros, "wb") as f:
        f.truncate(split.archive.size)  # right size, all zero bytes
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="SHA-256") as caught:
        find_split(HOH_VALIDATION)
    assert str(zeros) in str(caught.value)


def write_toy_zip(path: Path, prefix: str) -> Archive:
    """A zip holding classes a/ (2 images) and b/ (3 images) under ``prefix``, and junk."""
    members = {f"{prefix}a/{i}.jpg": b"a" for i in range(2)}
    members |= {f"{prefix}b/{i}.jpg": b"b" for i in range(3)}
    members["__MACOSX/a/._0.jpg"] = b"mac"
    write_zip(path, members)
    content = path.read_bytes()
    return Archive(f"https://example.org/toy/{path.name}", hashlib.sha256(content).hexdigest(),
                   len(content))


@pytest.mark.parametrize("prefix", ["", "toy-upstream/", "toy-upstream/inner/"])
def test_find_split_extracts_an_archive_in_the_data_folder(tmp_path, monkeypatch, no_download,
                                                          prefix):
    archive = write_toy_zip(tmp_path / "toy.zip", prefix)
    split = ImageFolderSplit("toy/train", archive, {"a": 2, "b": 3})
    monkeypatch.setitem(datasets.SPLITS, split.name, split)
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    folder = find_split(split.name)
    assert folder == tmp_path / "toy" / "train"
    assert [p.name for p in data.list_images(folder / "b")] == ["0.jpg", "1.jpg", "2.jpg"]
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["train"]  # no scratch left
    (tmp_path / "toy.zip").unlink()
    assert find_split(split.name) == folder  # found again without the archive


def test_find_split_checks_the_counts_of_an_extracted_archive(tmp_path, monkeypatch,
                                                             no_download):
    archive = write_toy_zip(tmp_path / "toy.zip", "")
    split = ImageFolderSplit("toy/train", archive, {"a": 2, "b": 4})
    monkeypatch.setitem(datasets.SPLITS, split.name, split)
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="3 images"):
        find_split(split.name)
    assert not (tmp_path / "toy" / "train").exists()


# --------------------------------------------------------------------------------------
# Images in memory
# --------------------------------------------------------------------------------------


def test_load_image_folder_on_real_validation_images(hoh_validation):
    images = load_image_folder(hoh_validation, 64)
    assert images.class_names == ["horses", "humans"]
    assert len(images) == 256
    assert images.images.shape == (256, 3, 64, 64)
    assert images.images.dtype == torch.uint8
    assert images.labels.tolist() == [0] * 128 + [1] * 128
    assert torch.bincount(images.labels).tolist() == [128, 128]
    # Real pictures, not blank tensors: a spread of values, and each image decoded separately.
    assert images.images.float().std() > 20
    first_horse = data.list_images(hoh_validation / "horses")[0]
    assert torch.equal(images.images[0], data.read_image_file(first_horse, 64))
    assert not torch.equal(images.images[0], images.images[1])


def test_load_image_folder_follows_the_class_order_given(hoh_validation, tmp_path):
    class_folders(hoh_validation, tmp_path, {"horses": 3, "humans": 2})
    (tmp_path / "horses" / "readme.txt").write_text("not an image")
    alphabetical = load_image_folder(tmp_path, 32)
    assert alphabetical.labels.tolist() == [0, 0, 0, 1, 1]
    reversed_order = load_image_folder(tmp_path, 32, class_names=["humans", "horses"])
    assert reversed_order.class_names == ["humans", "horses"]
    assert reversed_order.labels.tolist() == [0, 0, 1, 1, 1]
    assert torch.equal(reversed_order.images[:2], alphabetical.images[3:])


def test_the_decode_pass_shows_a_bar_that_disappears(hoh_validation, tmp_path, capsys):
    class_folders(hoh_validation, tmp_path, {"horses": 2, "humans": 2})
    load_image_folder(tmp_path, 32)
    bar = capsys.readouterr().err  # outside a notebook tqdm draws text on stderr
    assert f"decoding {tmp_path.name}:" in bar and "/4 [" in bar and bar.endswith(" \r")
    load_image_folder(tmp_path, 32, progress=False)
    assert capsys.readouterr().err == ""


def test_load_image_folder_without_images_raises(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    with pytest.raises(DatasetNotFoundError, match="No images"):
        load_image_folder(tmp_path, 32)


def numbered_set(n: int, channels: int = 1, size: int = 2) -> ImageSet:
    """Image i is filled with the value i and has label i, so order can be read back."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, channels, size, size)
    return ImageSet(images.contiguous(), torch.arange(n), [str(i) for i in range(n)])


def test_loader_in_order_covers_every_image_once():
    loader = InMemoryLoader(numbered_set(10), batch_size=4, shuffle=False, mean=0.0, std=1 / 255)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [labels.tolist() for _, labels in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for images, labels in batches:
        assert images.dtype == torch.float32 and images.shape[1:] == (1, 2, 2)
        # with mean 0 and std 1/255, normalising gives back the pixel values
        expected = labels.float().view(-1, 1, 1, 1).expand_as(images)
        torch.testing.assert_close(images, expected)
    assert list(loader)[2][1].tolist() == [8, 9]  # a second pass gives the same


@pytest.mark.parametrize(("n", "batch_size", "batches"), [(8, 4, 2), (9, 4, 3), (3, 32, 1)])
def test_loader_length_is_the_number_of_batches(n, batch_size, batches):
    loader = InMemoryLoader(numbered_set(n), batch_size=batch_size)
    assert len(loader) == batches == len(list(loader))


def test_loader_normalises_0_to_minus_1_and_255_to_1():
    images = torch.tensor([0, 255, 51], dtype=torch.uint8).view(3, 1, 1, 1)
    loader = InMemoryLoader(ImageSet(images, torch.zeros(3, dtype=torch.long), ["x"]),
                            batch_size=3, mean=0.5, std=0.5)
    batch, _ = next(iter(loader))
    torch.testing.assert_close(batch.flatten(), torch.tensor([-1.0, 1.0, -0.6]))
    assert images.dtype == torch.uint8 and images.flatten().tolist() == [0, 255, 51]


def test_loader_normalises_each_channel_with_its_own_mean_and_std():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8, generator=generator)
    loader = InMemoryLoader(ImageSet(images, torch.zeros(5, dtype=torch.long), ["x"]),
                            batch_size=5, mean=mean, std=std)
    batch, _ = next(iter(loader))
    for c in range(3):
        expected = (images[:, c].double() / 255 - mean[c]) / std[c]
        torch.testing.assert_close(batch[:, c].double(), expected, rtol=0, atol=1e-5)


def epoch_orders(loader: InMemoryLoader, epochs: int) -> list[list[int]]:
    return [torch.cat([labels for _, labels in loader]).tolist() for _ in range(epochs)]


def test_shuffled_loader_gives_a_permutation_each_epoch_repeatable_by_seed():
    n = 50
    orders = epoch_orders(InMemoryLoader(numbered_set(n), batch_size=8, shuffle=True, seed=3), 3)
    for order in orders:
        assert sorted(order) == list(range(n))  # every image exactly once
        assert order != list(range(n))  # actually shuffled
    assert orders[0] != orders[1]  # a new order each epoch
    same = epoch_orders(InMemoryLoader(numbered_set(n), batch_size=8, shuffle=True, seed=3), 3)
    assert same == orders
    other = epoch_orders(InMemoryLoader(numbered_set(n), batch_size=8, shuffle=True, seed=4), 3)
    assert other != orders


def test_shuffled_batches_keep_images_with_their_labels():
    loader = InMemoryLoader(numbered_set(20), batch_size=6, shuffle=True, mean=0.0, std=1 / 255)
    for images, labels in loader:
        torch.testing.assert_close(images[:, 0, 0, 0], labels.float())


def test_loader_applies_augment_to_uint8_images_before_normalising():
    seen = []

    def invert(images: torch.Tensor) -> torch.Tensor:
        seen.append(images.dtype)
        return 255 - images

    loader = InMemoryLoader(numbered_set(6), batch_size=4, augment=invert, mean=0.0,
                            std=1 / 255)
    batches = list(loader)
    assert seen == [torch.uint8, torch.uint8]
    for images, labels in batches:
        expected = (255 - labels).float().view(-1, 1, 1, 1).expand_as(images)
        torch.testing.assert_close(images, expected)


def test_subset_keeps_at_most_per_class_of_each_class():
    labels = torch.tensor([0] * 5 + [1] * 2 + [2] * 7)
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1)
    full = ImageSet(images, labels, ["a", "b", "c"])
    part = full.subset(3, seed=0)
    assert torch.bincount(part.labels, minlength=3).tolist() == [3, 2, 3]
    assert part.class_names == full.class_names
    index = part.images.flatten().long()  # each image holds its index in the full set
    assert torch.equal(labels[index], part.labels)  # images stay with their labels
    assert index.unique().numel() == len(index)  # no image twice
    assert torch.equal(index, index.sort().values)  # original order kept
    assert torch.equal(full.subset(3, seed=0).images, part.images)
    assert len(full.subset(100)) == len(full)
    choices = {tuple(full.subset(3, seed=s).images.flatten().tolist()) for s in range(10)}
    assert len(choices) > 1  # the seed picks which images


@pytest.mark.parametrize(("n", "fraction"),
                         [(50, 0.2), (47, 0.3), (10, 0.27), (9, 0.5), (12, 0.0)])
def test_split_sizes(n, fraction):
    rest, held = numbered_set(n).split(fraction=fraction, seed=0)
    assert len(held) == round(n * fraction)
    assert len(rest) + len(held) == n
    assert set(rest.labels.tolist()).isdisjoint(held.labels.tolist())


def test_split_partitions_the_set_by_seed():
    full = numbered_set(50)
    rest, held = full.split(fraction=0.2, seed=1)
    assert (len(rest), len(held)) == (40, 10)
    both = torch.cat([rest.labels, held.labels]).sort().values
    assert torch.equal(both, torch.arange(50))  # every image in exactly one part
    for part in (rest, held):
        assert torch.equal(part.images[:, 0, 0, 0].long(), part.labels)  # images keep labels
        assert torch.equal(part.labels, part.labels.sort().values)
        assert part.class_names == full.class_names
    assert torch.equal(full.split(0.2, seed=1)[1].labels, held.labels)
    assert not torch.equal(full.split(0.2, seed=2)[1].labels, held.labels)


# --------------------------------------------------------------------------------------
# The ascent image (Fashion-MNIST: tests/test_fashion_mnist.py)
# --------------------------------------------------------------------------------------


@pytest.fixture
def private_scipy_cache(tmp_path, monkeypatch) -> Path:
    """Point SciPy's data cache at an empty folder, and make any download fail."""
    import pooch
    import scipy.datasets._fetchers as fetchers

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = Path(pooch.os_cache("scipy-data"))
    assert cache.is_relative_to(tmp_path)
    monkeypatch.setattr(fetchers.data_fetcher, "path", cache)

    def refuse(self, url, *args, **kwargs):
        raise AssertionError(f"SciPy tried to download {url}")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", refuse)
    return cache


def test_load_ascent_works_offline_and_primes_scipy(real_data, private_scipy_cache):
    real_data("ascent")
    import scipy.datasets

    assert not (private_scipy_cache / "ascent.dat").exists()
    ascent = load_ascent()
    assert ascent.shape == (512, 512)
    assert ascent.min() == 0 and ascent.max() == 255
    assert downloads.sha256_of(private_scipy_cache / "ascent.dat") == readers.ASCENT_SHA256
    np.testing.assert_array_equal(scipy.datasets.ascent(), ascent)


def test_load_ascent_missing_file(tmp_path, monkeypatch, private_scipy_cache):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="ascent.dat"):
        load_ascent()


def test_load_ascent_corrupt_file(tmp_path, monkeypatch, private_scipy_cache):
    (tmp_path / "data" / "scipy-data").mkdir(parents=True)
    (tmp_path / "data" / "scipy-data" / "ascent.dat").write_bytes(b"\x80\x04junk" * 100)
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path / "data"))
    with pytest.raises(DatasetCorruptError, match="ascent.dat"):
        load_ascent()
    assert not (private_scipy_cache / "ascent.dat").exists()


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_quick_mode_on(monkeypatch, value):
    monkeypatch.setenv("CONVNET_QUICK", value)
    assert is_quick() is True
    assert quick_or_full(2, 30) == 2


@pytest.mark.parametrize("value", ["0", "", "false", "no"])
def test_quick_mode_off(monkeypatch, value):
    monkeypatch.setenv("CONVNET_QUICK", value)
    assert is_quick() is False
    assert quick_or_full(2, 30) == 30


def test_quick_mode_off_when_unset(monkeypatch):
    monkeypatch.delenv("CONVNET_QUICK", raising=False)
    assert is_quick() is False
    assert quick_or_full("quick", "full") == "full"


def test_data_folder_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        data_root()


def test_a_half_present_split_folder_is_not_extracted_into(tmp_path, monkeypatch):
    """An incomplete folder where the split should go is reported, not silently nested into."""
    import zipfile as zf

    from helpers import datasets as data_module

    split = data_module.ImageFolderSplit(
        "toy/train", Archive("https://example.org/toy.zip", "0" * 64, 1), {"a": 1, "b": 1})
    monkeypatch.setitem(data_module.SPLITS, "toy/train", split)
    monkeypatch.setattr(data_module, "verify_file", lambda path, archive: None)
    archive = tmp_path / "toy.zip"
    with zf.ZipFile(archive, "w") as z:
        z.writestr("toy/a/1.jpg", b"x")
        z.writestr("toy/b/1.jpg", b"x")
    (tmp_path / "toy" / "train" / "a").mkdir(parents=True)  # a previous, interrupted copy
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="exists but does not hold the complete split"):
        data_module.find_split("toy/train")
