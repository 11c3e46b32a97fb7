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

import argparse
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from benchmarks.common import TrainingPath, plain_epoch, race, report
from helpers.data import STAND_IN_MARKER, data_root
from helpers.models import FashionCNN
from helpers.training import evaluate, make_optimizer, train_one_epoch

TARGET = 0.91  # the chapter's test accuracy for its CNN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--max-batches", type=int, default=-1, help="cut epochs short (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    device = helpers.get_device()

    start = time.perf_counter()
    train, test = helpers.load_fashion_mnist()  # finds, downloads or refuses, loudly
    stand_in = (data_root() / "FashionMNIST" / STAND_IN_MARKER).exists()
    if stand_in:
        print("\n*** SYNTHETIC STAND-IN, NOT FASHION-MNIST: speed only, no accuracy. ***\n")
    train, test = train.to(device), test.to(device)
    decode_seconds = time.perf_counter() - start
    pixels = train.images.float() / 255
    mean, std = pixels.mean().item(), pixels.std().item()
    test_loader = helpers.InMemoryLoader(test, batch_size=512, mean=mean, std=std)
    plain_loader = DataLoader(datasets.FashionMNIST(
        data_root(), train=True, download=False, transform=transforms.Compose([
            transforms.ToTensor(), transforms.Normalize((mean,), (std,))])),
        batch_size=64, shuffle=True)

    def accuracy_of(model: nn.Module):
        return lambda: evaluate(model, test_loader, nn.CrossEntropyLoss(), device)[1]

    helpers.seed_everything(0)
    plain_model = FashionCNN().to(device)
    fast_model = FashionCNN().to(device)
    fast_model.load_state_dict(plain_model.state_dict())  # the same starting point
    fast_model.to(memory_format=torch.channels_last)
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    fast_opt = make_optimizer(fast_model, lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    paths = {
        "plain": TrainingPath(
            lambda loader: plain_epoch(plain_model, loader, loss_fn, plain_opt, device),
            plain_loader, accuracy_of(plain_model)),
        "helpers": TrainingPath(
            lambda loader: train_one_epoch(fast_model, loader, loss_fn, fast_opt, device),
            helpers.InMemoryLoader(train, batch_size=64, shuffle=True, mean=mean, std=std),
            accuracy_of(fast_model), setup_seconds=decode_seconds),
    }
    target = None if stand_in else TARGET
    results = race(paths, device, target, args.max_epochs, args.max_batches)
    name = "a synthetic stand-in of Fashion-MNIST's shape" if stand_in else "Fashion-MNIST"
    report(f"Notebook 02 · {name} ({len(train):,} training images, 28x28, batch 64)",
           results, device, target, args.json, {"stand_in": stand_in})


if __name__ == "__main__":
    main()
