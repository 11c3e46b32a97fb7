"""Notebook 02, Fashion-MNIST: the chapter's plain loop against the helpers path, in speed
(training images/s) and in time to the chapter's test accuracy (91%) with its CNN.

Same model (FashionCNN, 333,898 parameters), same 60,000 training images, batch 64, Adam 1e-3,
the same initial weights, one run on one machine; accuracy on the 10,000 test images, which
is how the chapter measured its 91%.

* plain   - torchvision's FashionMNIST dataset, per-item transforms (ToTensor, Normalize), a
            DataLoader (no workers), ``loss.item()`` every batch.
* helpers - what the notebook runs: all images in one uint8 tensor (on the GPU when there is
            one), batches normalised on the fly, no per-batch sync, channels-last, fused Adam
            and, on CUDA, mixed precision.

Needs the real Fashion-MNIST (downloaded by torchvision, or in CONVNET_DATA/FashionMNIST/raw).
On anything else it stops, or (tests only) warns loudly that accuracies mean nothing.

Usage: python -m benchmarks.fashion_mnist [--max-epochs 10] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import time

from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from benchmarks.common import parse_args, race, report, twin_paths
from helpers.data import STAND_IN_MARKER, data_root
from helpers.models import FashionCNN

TARGET = 0.91  # the chapter's test accuracy for its CNN


def main() -> None:
    args = parse_args(__doc__, max_epochs=10)
    device = helpers.get_device()
    start = time.perf_counter()
    train, test = helpers.load_fashion_mnist()  # finds, downloads or refuses, loudly
    train, test = train.to(device), test.to(device)
    decode_seconds = time.perf_counter() - start
    stand_in = (data_root() / "FashionMNIST" / STAND_IN_MARKER).exists()
    if stand_in:
        print("\n*** SYNTHETIC STAND-IN, NOT FASHION-MNIST: speed only, no accuracy. ***\n")
    pixels = train.images.float() / 255
    mean, std = pixels.mean().item(), pixels.std().item()
    plain_loader = DataLoader(datasets.FashionMNIST(
        data_root(), train=True, download=False, transform=transforms.Compose([
            transforms.ToTensor(), transforms.Normalize((mean,), (std,))])),
        batch_size=64, shuffle=True)
    paths = twin_paths(
        FashionCNN, plain_loader,
        helpers.InMemoryLoader(train, batch_size=64, shuffle=True, mean=mean, std=std),
        helpers.InMemoryLoader(test, batch_size=512, mean=mean, std=std), device, decode_seconds)
    target = None if stand_in else TARGET
    results = race(paths, device, target, args.max_epochs, args.max_batches)
    name = "a synthetic stand-in of Fashion-MNIST's shape" if stand_in else "Fashion-MNIST"
    report(f"Notebook 02 · {name} ({len(train):,} training images, 28x28, batch 64)",
           results, device, target, args.json, {"stand_in": stand_in})


if __name__ == "__main__":
    main()
