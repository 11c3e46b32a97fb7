"""Notebook 03, Horses or Humans: the chapter's way against the helpers' way, in speed (training
images/s) and in time to the chapter's validation accuracy (88%).

Same model (HorsesHumansCNN, 10.6M parameters, one logit), same images at 150x150, batch 32,
Adam 1e-3, BCEWithLogitsLoss on every path, the same initial weights, one run on one machine.
The paths are described in ``benchmarks/common.py``; here the chapter's data pipeline is
ImageFolder with per-item Resize, ToTensor and Normalize in a DataLoader without workers, which
decodes every JPEG in every epoch.

One difference besides speed: the chapter's pipeline resizes each PIL image with Pillow's
antialiased bilinear filter, the helpers (``load_image_folder``) resize the decoded tensor with
torchvision's; the two differ by about one grey level here and there.

Usage: python -m benchmarks.hoh [--max-epochs 15] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import time

from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from benchmarks.common import parse_args, race, report, three_paths
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
    chapter_loader = DataLoader(datasets.ImageFolder(
        find_split("horse-or-human/train"), transform=transforms.Compose([
            transforms.Resize((150, 150)), transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3)])), batch_size=32, shuffle=True)
    paths = three_paths(HorsesHumansCNN, chapter_loader,
                        helpers.InMemoryLoader(train, batch_size=32, shuffle=True),
                        helpers.InMemoryLoader(val, batch_size=128), device, decode_seconds,
                        nn.BCEWithLogitsLoss())
    result = race(paths, device, TARGET, args.max_epochs, args.max_batches)
    report("Notebook 03 · Horses or Humans (1,027 training images, 150x150, batch 32)",
           result, device, TARGET, args.json)


if __name__ == "__main__":
    main()
