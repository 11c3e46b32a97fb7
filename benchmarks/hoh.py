"""Notebook 03, Horses or Humans: the chapter's plain loop against the helpers path, in speed
(training images/s) and in time to the chapter's validation accuracy (88%).

Same model (HorsesHumansCNN, 10.6M parameters), same images at 150x150, batch 32, Adam 1e-3,
the same initial weights, one run on one machine.

* plain   - ImageFolder, per-item PIL transforms (Resize, ToTensor, Normalize), a DataLoader
            (no workers), sigmoid + BCELoss, ``loss.item()`` every batch: decoding every epoch.
* helpers - what the notebook runs: images decoded once into a uint8 tensor (on the GPU when
            there is one), batches normalised on the fly, BCEWithLogitsLoss, no per-batch sync,
            channels-last, fused Adam and, on CUDA, mixed precision.

Usage: python -m benchmarks.hoh [--max-epochs 15] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import time

from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from benchmarks.common import parse_args, race, report, twin_paths
from helpers.datasets import find_split
from helpers.models import HorsesHumansCNN

TARGET = 0.88  # the chapter's validation accuracy


def main() -> None:
    args = parse_args(__doc__, max_epochs=15)
    device = helpers.get_device()
    start = time.perf_counter()
    train, val = helpers.load_horses_or_humans(size=150)
    train, val = train.to(device), val.to(device)
    decode_seconds = time.perf_counter() - start
    plain_loader = DataLoader(datasets.ImageFolder(
        find_split("horse-or-human/train"), transform=transforms.Compose([
            transforms.Resize((150, 150)), transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3)])), batch_size=32, shuffle=True)
    paths = twin_paths(HorsesHumansCNN, plain_loader,
                       helpers.InMemoryLoader(train, batch_size=32, shuffle=True),
                       helpers.InMemoryLoader(val, batch_size=128), device, decode_seconds,
                       one_logit=True)
    results = race(paths, device, TARGET, args.max_epochs, args.max_batches)
    report("Notebook 03 · Horses or Humans (1,027 training images, 150x150, batch 32)",
           results, device, TARGET, args.json)


if __name__ == "__main__":
    main()
