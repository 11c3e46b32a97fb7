"""Test set-up: QUICK mode, and a staged data folder linking the real datasets in.

The real datasets come from CONVNET_DATA (CI points it at ../shared/datasets) or from data/;
Fashion-MNIST may also come from Debian's /usr/share/datasets/fashion-mnist. They are linked
into a temporary folder (nothing is written next to the data) that the tests and notebooks
read through CONVNET_DATA. When a dataset is missing, the header of the test run says so and
the tests that need it are skipped with that reason: nothing switches silently to fake data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
NEEDS_FASHION = ("02_fashion_mnist_cnn.ipynb",)  # notebooks that run on Fashion-MNIST


def _has_fashion(folder: Path) -> bool:
    return all((folder / name).is_file() or (folder / f"{name}.gz").is_file()
               for name in FASHION_FILES)


def pytest_configure(config) -> None:
    os.environ.setdefault("CONVNET_QUICK", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    source = Path(os.environ.get("CONVNET_DATA") or REPO / "data")
    staging = Path(tempfile.mkdtemp(prefix="convnet-test-data-"))
    if source.is_dir():
        for entry in source.iterdir():
            (staging / entry.name).symlink_to(entry.resolve())
    fashion = staging / "FashionMNIST" / "raw"
    if not _has_fashion(fashion) and _has_fashion(DEBIAN_FASHION):
        if (staging / "FashionMNIST").is_symlink():
            (staging / "FashionMNIST").unlink()
        fashion.parent.mkdir(exist_ok=True)
        fashion.symlink_to(DEBIAN_FASHION)
    config._convnet_fashion = (f"Fashion-MNIST: real files from {fashion.resolve()}"
                               if _has_fashion(fashion) else
                               f"Fashion-MNIST: NOT FOUND in {source} (nor in {DEBIAN_FASHION}); "
                               "notebook 02 and the tests on it are SKIPPED")
    os.environ["CONVNET_DATA"] = str(staging)
    os.environ["CONVNET_MODELS"] = str(staging / "trained-models")  # keep notebooks/ clean
    config._convnet_staging = staging


def pytest_report_header(config) -> str:
    return getattr(config, "_convnet_fashion", "")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:  # the notebooks are the slow tier (pytest -m "not slow" leaves them out)
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
    if getattr(config, "_convnet_fashion", "").startswith("Fashion-MNIST: real"):
        return
    skip = pytest.mark.skip(reason="real Fashion-MNIST not found: set CONVNET_DATA to a folder "
                                   "holding FashionMNIST/raw/ (see data/README.md)")
    for item in items:
        if Path(str(item.fspath)).name in NEEDS_FASHION:
            item.add_marker(skip)


def pytest_unconfigure(config) -> None:
    staging = getattr(config, "_convnet_staging", None)
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# Real data, or a skip that names what is missing
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_data():
    """``real_data(name)``: where a real dataset is, or skip the test saying which is missing.

    ``name`` is a split ("horse-or-human/validation", "rps/test", ...), "fashion-mnist" (the
    folder of its four files) or "ascent" (SciPy's ascent.dat). Nothing is downloaded.
    """
    from helpers.datasets import find_split
    from helpers.readers import find_fashion_mnist
    from helpers.settings import DatasetNotFoundError, data_root

    def find(name: str) -> Path:
        try:
            if name == "fashion-mnist":
                return find_fashion_mnist(download_missing=False)
            if name == "ascent":
                path = data_root() / "scipy-data" / "ascent.dat"
                if not path.is_file():
                    raise DatasetNotFoundError(f"{path} is missing")
                return path
            return find_split(name, download_missing=False)
        except DatasetNotFoundError as error:
            pytest.skip(f"real {name} not found ({str(error).splitlines()[0]}): set CONVNET_DATA "
                        f"to a folder that holds it (data/README.md)")

    return find


@pytest.fixture(scope="session")
def real_images(real_data):
    """``real_images(split, size, per_class)``: ``per_class`` images of each class of a real
    split, evenly spread over its files in name order (so not only the first few subjects),
    decoded at ``size``: a test that needs 40 images decodes 40, not the whole split. Each
    answer is decoded once per test session."""
    import torch

    from helpers.data import ImageSet, list_images, read_image_file
    from helpers.datasets import SPLITS

    decoded: dict[tuple[str, int, int], ImageSet] = {}

    def load(split: str, size: int, per_class: int):
        key = (split, size, per_class)
        if key not in decoded:
            folder, classes = real_data(split), SPLITS[split].class_names
            files = []
            for label, name in enumerate(classes):
                paths = list_images(folder / name)
                step = max(1, len(paths) // per_class)
                files += [(label, path) for path in paths[::step][:per_class]]
            images = torch.stack([read_image_file(path, size) for _, path in files])
            labels = torch.tensor([label for label, _ in files])
            decoded[key] = ImageSet(images, labels, classes)
        return decoded[key]

    return load


@pytest.fixture(scope="session")
def fashion_mnist(real_data):
    """Fashion-MNIST's training and test sets, read once for the whole test session."""
    from helpers.readers import load_fashion_mnist

    real_data("fashion-mnist")
    return load_fashion_mnist()


# ----------------------------------------------------------------------------------------------
# The precisions a real-data learning check runs in
# ----------------------------------------------------------------------------------------------


def _learning_precisions() -> list:
    """fp32, and this CPU's own precision where it is another (bf16 on a CPU with native bf16):
    learning must hold in both. A CPU that trains in fp32 is not made to emulate bf16."""
    import torch

    from helpers.precision import choose_precision

    own = choose_precision("cpu")
    return ["fp32", pytest.param(own.name, id=f"this-cpu-{own.name}", marks=pytest.mark.skipif(
        own.dtype == torch.float32, reason=f"this CPU trains in fp32 ({own.reason})"))]


LEARNING_PRECISIONS = _learning_precisions()
