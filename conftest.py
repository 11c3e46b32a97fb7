"""Test set-up: QUICK mode, and a data folder that adds a Fashion-MNIST stand-in.

The real datasets come from CONVNET_DATA (CI points it at ../shared/datasets) or from data/.
Fashion-MNIST cannot be had offline here, so a small synthetic stand-in is written in its real
IDX format: the notebook's real loading code runs on it, and no accuracy is claimed from it.
The stand-in folder carries a marker file, and the loader warns loudly when it sees it.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format MNIST and Fashion-MNIST use (big-endian header)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_fashion_stand_in(folder: Path, train: int = 2000, test: int = 500, seed: int = 0) -> None:
    """Write a synthetic 10-class stand-in: each class is a bar at its own position, plus noise."""
    rng = np.random.default_rng(seed)
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            row = 2 + 2 * int(label)
            images[i, row:row + 3, 4:24] = 230
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    (folder / "STAND-IN.txt").write_text(
        "Synthetic stand-in written by conftest.py. This is NOT Fashion-MNIST.\n")


def pytest_configure(config) -> None:
    os.environ.setdefault("CONVNET_QUICK", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    source = Path(os.environ.get("CONVNET_DATA") or REPO / "data")
    staging = Path(tempfile.mkdtemp(prefix="convnet-test-data-"))
    if source.is_dir():
        for entry in source.iterdir():
            if entry.name != "FashionMNIST":
                (staging / entry.name).symlink_to(entry.resolve())
    write_fashion_stand_in(staging / "FashionMNIST")
    os.environ["CONVNET_DATA"] = str(staging)
    os.environ["CONVNET_MODELS"] = str(staging / "trained-models")  # keep notebooks/ clean
    config._convnet_staging = staging


def pytest_unconfigure(config) -> None:
    staging = getattr(config, "_convnet_staging", None)
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
