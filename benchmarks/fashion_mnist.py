"""Notebook 02, Fashion-MNIST: the chapter's plain loop against the helpers path, in speed
(training images/s) and in time to the chapter's test accuracy (91%) with its CNN.

Same model (FashionCNN, 333,898 parameters), same 60,000 training images, batch 64, Adam 1e-3,
the same initial weights, one run on one machine; accuracy on the 10,000 test images, which
is how the chapter measured its 91%.

* plain   - a Dataset that hands out one image at a time as torchvision's FashionMNIST does
            (a PIL image per item), per-item transforms (ToTensor, Normalize), a DataLoader
            (no workers), ``loss.item()`` every batch.
* helpers - what the notebook runs: all images in one uint8 tensor (on the GPU when there is
            one), batches normalised on the fly, no per-batch sync, channels-last, fused Adam
            and, on CUDA, mixed precision.

Needs the real Fashion-MNIST (downloaded once by ``helpers.load_fashion_mnist``, or read from
CONVNET_DATA/FashionMNIST/raw); its files are checked, so nothing else can stand in for it.

Usage: python -m benchmarks.fashion_mnist [--max-epochs 10] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import time

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import helpers
from benchmarks.common import parse_args, race, report, twin_paths
from helpers.models import FashionCNN

TARGET = 0.91  # the chapter's test accuracy for its CNN


class PlainFashion(Dataset):
    """Fashion-MNIST item by item, the way torchvision's FashionMNIST serves it."""

    def __init__(self, data: helpers.ImageSet, transform) -> None:
        self.images, self.labels = data.images[:, 0].cpu(), data.labels.cpu()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        picture = Image.fromarray(self.images[index].numpy(), mode="L")
        return self.transform(picture), int(self.labels[index])


def main() -> None:
    args = parse_args(__doc__, max_epochs=10)
    device = helpers.get_device()
    start = time.perf_counter()
    train, test = helpers.load_fashion_mnist()  # finds, downloads or refuses, loudly
    train, test = train.to(device), test.to(device)
    decode_seconds = time.perf_counter() - start
    pixels = train.images.float() / 255
    mean, std = pixels.mean().item(), pixels.std().item()
    plain_data = PlainFashion(train, transforms.Compose([
        transforms.ToTensor(), transforms.Normalize((mean,), (std,))]))
    paths = twin_paths(
        FashionCNN, DataLoader(plain_data, batch_size=64, shuffle=True),
        helpers.InMemoryLoader(train, batch_size=64, shuffle=True, mean=mean, std=std),
        helpers.InMemoryLoader(test, batch_size=512, mean=mean, std=std), device, decode_seconds)
    results = race(paths, device, TARGET, args.max_epochs, args.max_batches)
    report(f"Notebook 02 · Fashion-MNIST ({len(train):,} training images, 28x28, batch 64)",
           results, device, TARGET, args.json)


if __name__ == "__main__":
    main()
