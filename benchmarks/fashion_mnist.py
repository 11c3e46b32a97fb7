"""Notebook 02, Fashion-MNIST: the chapter's way against the helpers' way, in speed (training
images/s) and in time to the chapter's test accuracy (91%) with its CNN.

Same model (FashionCNN, 333,898 parameters), same 60,000 training images, batch 64, Adam 1e-3,
cross-entropy, the same initial weights, one run on one machine; accuracy on the 10,000 test
images, which is how the chapter measured its 91%. The paths are described in
``benchmarks/common.py``; here the chapter's data pipeline is a Dataset that hands out one PIL
image at a time, as torchvision's FashionMNIST does, with per-item ToTensor and Normalize, in
a DataLoader without workers. Both pipelines give the same numbers for every pixel
((x/255 - mean) / std), so nothing but the speed differs.

Needs the real Fashion-MNIST (downloaded once by ``helpers.load_fashion_mnist``, or read from
CONVNET_DATA/FashionMNIST/raw); its files are checked, so nothing else can stand in for it.

Usage: python -m benchmarks.fashion_mnist [--max-epochs 10] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import time

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import helpers
from benchmarks.common import parse_args, race, report, three_paths
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
    chapter_data = PlainFashion(train, transforms.Compose([
        transforms.ToTensor(), transforms.Normalize((mean,), (std,))]))
    paths = three_paths(
        FashionCNN, DataLoader(chapter_data, batch_size=64, shuffle=True),
        helpers.InMemoryLoader(train, batch_size=64, shuffle=True, mean=mean, std=std),
        helpers.InMemoryLoader(test, batch_size=512, mean=mean, std=std), device, decode_seconds,
        nn.CrossEntropyLoss())
    result = race(paths, device, TARGET, args.max_epochs, args.max_batches)
    report(f"Notebook 02 · Fashion-MNIST ({len(train):,} training images, 28x28, batch 64)",
           result, device, TARGET, args.json)


if __name__ == "__main__":
    main()
