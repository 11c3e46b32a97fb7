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
