"""Settings every notebook shares: where the data lives, QUICK mode, the device, the seed.

Read from the environment, so the tests and CI can change them without touching a notebook:

* ``CONVNET_DATA`` names a folder that already holds the datasets (offline use, CI);
  without it the data lives in ``data/`` beside the notebooks and is downloaded on first use.
* ``CONVNET_QUICK=1`` shrinks every run (fewer images and epochs) for tests.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

DATA_ENV = "CONVNET_DATA"
QUICK_ENV = "CONVNET_QUICK"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not where it should be (and could not be downloaded)."""


class DatasetCorruptError(RuntimeError):
    """A dataset file or folder is incomplete, damaged or not what it claims to be."""


def is_quick() -> bool:
    """Return True when CONVNET_QUICK asks for a fast, shrunken run (tests, CI)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def quick_or_full(quick, full):
    """Return ``quick`` in QUICK mode and ``full`` otherwise (epochs, subset sizes...)."""
    return quick if is_quick() else full


def offline_root() -> Path | None:
    """Return the folder named by CONVNET_DATA, or None when it is not set."""
    value = os.environ.get(DATA_ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{DATA_ENV} is set to {value!r}, which is not a folder.")
    return root


def project_folder(name: str) -> Path:
    """``name`` (e.g. "data", "models") in the repository, or in ~/.cache/convnet-lab when the
    helpers run from an installed copy (pip install from GitHub, as on Colab)."""
    repo = Path(__file__).resolve().parents[1]
    base = repo if (repo / "notebooks").is_dir() else Path.home() / ".cache" / "convnet-lab"
    return base / name


def data_root() -> Path:
    """Return the folder datasets are read from: CONVNET_DATA if set, else the repo's data/."""
    root = offline_root()
    return root if root is not None else project_folder("data")


def get_device() -> torch.device:
    """Pick the best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU) so a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def setup_notebook() -> tuple[torch.device, bool]:
    """Print the versions, the device, the precision it trains in and the mode a notebook runs
    with; return (device, QUICK).

    QUICK (set by the environment variable CONVNET_QUICK, as the tests do) shrinks every run.
    """
    import torchvision

    from helpers.precision import choose_precision

    device, quick = get_device(), is_quick()
    print(f"torch {torch.__version__} · torchvision {torchvision.__version__} · device {device}"
          f"{' · QUICK mode' if quick else ''}\ntrains in {choose_precision(device)}")
    return device, quick
