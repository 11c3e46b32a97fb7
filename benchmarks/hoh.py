"""Notebook 03, Horses or Humans: the chapter's plain loop against the helpers path, in speed
(training images/s) and in time to the chapter's validation accuracy (88%).

Same model (HorsesHumansCNN, 10.6M parameters), same images at 150x150, batch 32, Adam 1e-3,
the same initial weights, one run on one machine.

* plain   - ImageFolder, per-item PIL transforms (Resize, ToTensor, Normalize), a DataLoader
            (no workers), sigmoid + BCELoss, ``loss.item()`` every batch: decoding every epoch.
* helpers - what the notebook runs: images decoded once into a uint8 tensor (on the GPU when
            there is one), batches normalised on the fly, BCEWithLogitsLoss, no per-batch sync,
            channels-last, fused Adam and, on CUDA, mixed precision.

Usage: python benchmarks/hoh.py [--max-epochs 15] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from benchmarks.common import TrainingPath, plain_epoch, race, report
from helpers.data import find_split
from helpers.models import HorsesHumansCNN
from helpers.training import evaluate, make_optimizer, train_one_epoch

TARGET = 0.88  # the chapter's validation accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--max-batches", type=int, default=-1, help="cut epochs short (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    device = helpers.get_device()

    start = time.perf_counter()
    train, val = helpers.load_horses_or_humans(size=150)
    train, val = train.to(device), val.to(device)
    decode_seconds = time.perf_counter() - start
    val_loader = helpers.InMemoryLoader(val, batch_size=128)
    plain_transform = transforms.Compose([
        transforms.Resize((150, 150)), transforms.ToTensor(),
        transforms.Normalize([0.5] * 3, [0.5] * 3)])
    plain_loader = DataLoader(
        datasets.ImageFolder(find_split("horse-or-human/train"), transform=plain_transform),
        batch_size=32, shuffle=True)

    def accuracy_of(model: nn.Module):
        return lambda: evaluate(model, val_loader, nn.BCEWithLogitsLoss(), device)[1]

    helpers.seed_everything(0)
    plain_model = HorsesHumansCNN().to(device)
    fast_model = HorsesHumansCNN().to(device)
    fast_model.load_state_dict(plain_model.state_dict())  # the same starting point
    fast_model.to(memory_format=torch.channels_last)
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    fast_opt = make_optimizer(fast_model, lr=1e-3)
    paths = {
        "plain": TrainingPath(
            lambda loader: plain_epoch(plain_model, loader, nn.BCELoss(), plain_opt, device,
                                       one_logit=True),
            plain_loader, accuracy_of(plain_model)),
        "helpers": TrainingPath(
            lambda loader: train_one_epoch(fast_model, loader, nn.BCEWithLogitsLoss(),
                                           fast_opt, device),
            helpers.InMemoryLoader(train, batch_size=32, shuffle=True), accuracy_of(fast_model),
            setup_seconds=decode_seconds),
    }
    results = race(paths, device, TARGET, args.max_epochs, args.max_batches)
    report("Notebook 03 · Horses or Humans (1,027 training images, 150x150, batch 32)",
           results, device, TARGET, args.json)


if __name__ == "__main__":
    main()
