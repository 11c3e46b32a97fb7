"""Fashion-MNIST: the IDX reader, the checks on the unpacked contents, where the files are
found, and a CNN that learns from the real images.

The real files come from the data folder conftest.py stages; without them these tests skip,
saying so. Tiny IDX files written here serve only the reader and the error paths.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import helpers
from helpers import downloads, readers
from helpers.models import FashionCNN
from helpers.readers import (
    FASHION_CLASSES,
    FASHION_FILES,
    IdxFile,
    load_fashion_mnist,
    read_idx,
)
from helpers.settings import DatasetCorruptError, DatasetNotFoundError

TEST_LABELS = FASHION_FILES["test-labels"]


@pytest.fixture(scope="session")
def fashion_raw(real_data) -> Path:
    """The folder of the real Fashion-MNIST files staged by conftest.py."""
    return real_data("fashion-mnist")


@pytest.fixture(scope="session")
def fashion(fashion_mnist) -> tuple[helpers.ImageSet, helpers.ImageSet]:
    return fashion_mnist  # read once per session (conftest.py)


def idx_bytes(array: np.ndarray) -> bytes:
    """An array in the IDX format: two zero bytes, type 0x08 (unsigned byte), ndim, sizes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                     *array.shape)
    return header + array.astype(np.uint8).tobytes()


def unpacked(path: Path) -> bytes:
    with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as handle:
        return handle.read()


# --- the real data ------------------------------------------------------------------------


def test_real_fashion_mnist_has_the_official_shapes_classes_and_order(fashion):
    train, test = fashion
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.images.dtype == test.images.dtype == torch.uint8
    assert train.labels.dtype == torch.long
    assert train.class_names == FASHION_CLASSES and len(FASHION_CLASSES) == 10
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    # the first training image is an ankle boot, the first test image too (Zalando's README)
    assert FASHION_CLASSES[int(train.labels[0])] == "Ankle boot"
    assert FASHION_CLASSES[int(test.labels[0])] == "Ankle boot"
    assert 70 < train.images.float().mean() < 75  # mean pixel 0.286 x 255


def test_loading_writes_nothing_next_to_the_files(fashion_raw):
    before = sorted(p.name for p in fashion_raw.resolve().iterdir())
    load_fashion_mnist()
    assert sorted(p.name for p in fashion_raw.resolve().iterdir()) == before


def test_any_gzip_of_the_official_contents_is_accepted(fashion_raw, tmp_path):
    """Debian's re-compressed .gz, another compression level, or the unpacked file: all fine."""
    content = unpacked(readers._idx_path(fashion_raw, TEST_LABELS))
    expected = read_idx(readers._idx_path(fashion_raw, TEST_LABELS), TEST_LABELS)
    packed = tmp_path / "t10k-labels-idx1-ubyte.gz"
    packed.write_bytes(gzip.compress(content, compresslevel=1))
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(content)
    for path in (packed, plain):
        assert torch.equal(read_idx(path, TEST_LABELS), expected)
    assert expected.shape == TEST_LABELS.shape


@pytest.mark.parametrize("damage", ["cut short", "one byte changed", "html page"])
def test_a_damaged_or_wrong_file_is_named(fashion_raw, tmp_path, damage):
    content = unpacked(readers._idx_path(fashion_raw, TEST_LABELS))
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    if damage == "cut short":
        packed = gzip.compress(content)
        path.write_bytes(packed[: len(packed) // 2])
        match = r"t10k-labels-idx1-ubyte\.gz could not be unpacked"
    elif damage == "one byte changed":
        changed = bytearray(content)
        changed[5000] ^= 1
        path.write_bytes(gzip.compress(bytes(changed)))
        match = "is not the official t10k-labels-idx1-ubyte"
    else:
        path = tmp_path / "t10k-labels-idx1-ubyte"
        path.write_bytes(b"<html>Not Found</html>")
        match = "is not the official t10k-labels-idx1-ubyte"
    with pytest.raises(DatasetCorruptError, match=match):
        read_idx(path, TEST_LABELS)


def test_a_damaged_file_stops_the_whole_load(fashion_raw, tmp_path, monkeypatch):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for idx in FASHION_FILES.values():
        (raw / f"{idx.name}.gz").symlink_to(readers._idx_path(fashion_raw, idx).resolve())
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01" + bytes(8)))
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="t10k-labels-idx1-ubyte.gz"):
        load_fashion_mnist()


@pytest.mark.slow
def test_a_short_training_run_of_the_cnn_clearly_beats_chance(fashion):
    """The lesson's CNN, 2 epochs on 3,000 real training images, judged on 1,000 test images."""
    train, test = fashion
    train, test = train.subset(per_class=300, seed=0), test.subset(per_class=100, seed=0)
    helpers.seed_everything(0)
    model = FashionCNN()
    loader = helpers.InMemoryLoader(train, batch_size=64, shuffle=True, mean=0.286, std=0.353)
    test_loader = helpers.InMemoryLoader(test, batch_size=500, mean=0.286, std=0.353)
    history = helpers.fit(model, loader, test_loader, epochs=2, verbose=False)
    assert history.val_acc[-1] > 0.70, history  # chance is 0.10


# --- finding the files ----------------------------------------------------------------------


def test_missing_files_are_named_with_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as caught:
        load_fashion_mnist()
    message = str(caught.value)
    for idx in FASHION_FILES.values():
        assert f"{idx.name}.gz" in message
    assert "dataset-fashion-mnist" in message and str(tmp_path / "FashionMNIST") in message
    assert not (tmp_path / "FashionMNIST").exists()


def test_debians_folder_is_found_when_no_data_folder_is_named(fashion_raw, tmp_path,
                                                             monkeypatch):
    debian = tmp_path / "debian"
    debian.mkdir()
    for idx in FASHION_FILES.values():
        (debian / f"{idx.name}.gz").symlink_to(readers._idx_path(fashion_raw, idx).resolve())
    monkeypatch.delenv("CONVNET_DATA")
    monkeypatch.setattr(readers, "data_root", lambda: tmp_path / "empty")
    monkeypatch.setattr(readers, "DEBIAN_FASHION", debian)
    monkeypatch.setattr(readers, "download", lambda *a, **k: pytest.fail("tried to download"))
    assert readers.find_fashion_mnist() == debian
    assert len(load_fashion_mnist()[1]) == 10_000


@pytest.mark.slow
def test_online_the_files_are_downloaded_once_and_checked(fashion_raw, tmp_path, monkeypatch):
    """A fake server hands out the real files; one of them is damaged on the first request."""
    served: list[str] = []

    def urlopen(url, timeout=None):
        name = url.rsplit("/", 1)[-1]
        served.append(name)
        source = fashion_raw / name
        content = (source.read_bytes() if source.is_file()
                   else gzip.compress(unpacked(fashion_raw / name[:-3]), compresslevel=1))
        if name.startswith("t10k-labels") and served.count(name) == 1:
            content = content[:100]  # the first download of this file is cut short
        response = io.BytesIO(content)
        response.headers = {"Content-Length": str(len(content))}
        response.status = 200
        return response

    monkeypatch.delenv("CONVNET_DATA")
    monkeypatch.setattr(readers, "data_root", lambda: tmp_path)
    monkeypatch.setattr(readers, "DEBIAN_FASHION", tmp_path / "no-debian")
    monkeypatch.setattr(downloads.urllib.request, "urlopen", urlopen)
    train, test = load_fashion_mnist()
    assert len(train) == 60_000 and len(test) == 10_000
    assert served.count("t10k-labels-idx1-ubyte.gz") == 2 and len(served) == 5
    assert served[0].startswith("train-images") and all(s.endswith(".gz") for s in served)
    files = sorted(p.name for p in (tmp_path / "FashionMNIST" / "raw").iterdir())
    assert files == sorted(f"{idx.name}.gz" for idx in FASHION_FILES.values())  # no .part
    load_fashion_mnist()
    assert len(served) == 5  # the second load reads the files already there


# --- the reader on tiny files ---------------------------------------------------------------


def test_read_idx_reads_shape_and_bytes_from_the_header(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "tiny-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    read = read_idx(path)
    assert read.dtype == torch.uint8 and np.array_equal(read.numpy(), images)
    content = idx_bytes(images)
    tiny = IdxFile("tiny-idx3-ubyte", hashlib.sha256(content).hexdigest(), len(content), (2, 3, 4))
    assert torch.equal(read_idx(path, tiny), read)


@pytest.mark.parametrize("content", [
    b"", b"\0\0\x08", b"\0\0\x0d\x01" + struct.pack(">I", 2) + bytes(8),  # floats, not bytes
    b"\1\0\x08\x01" + struct.pack(">I", 2) + bytes(2),  # bad magic
    b"\0\0\x08\x01" + struct.pack(">I", 5) + bytes(2),  # says 5 items, holds 2
])
def test_read_idx_refuses_what_is_not_an_idx_file_of_bytes(tmp_path, content):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DatasetCorruptError, match="bad-idx1-ubyte"):
        read_idx(path)
