"""Training throughput on Horses-or-Humans (150x150): the chapter's plain loop vs the helpers path.

Same model (HorsesHumansCNN, 10.6M parameters), same batch size (32), same machine, one run.

* plain     - the chapter's way: ImageFolder + per-item PIL transforms (Resize, ToTensor,
              Normalize) + DataLoader (no workers), sigmoid + BCELoss, Adam, ``loss.item()``
              every batch.
* data-only - the helpers data path (decoded once, batches cut from a uint8 tensor, normalised
              per batch, no per-batch sync), with the plain loop's model and optimizer settings:
              what the data path alone is worth.
* helpers   - ``helpers.training.train_one_epoch`` as the notebooks use it: the data path plus
              channels-last memory order, the fused Adam kernel and, on CUDA, mixed precision.

Epochs alternate between the variants so that drift in the machine's speed hits all of them.
Reported: training images per second, and each variant's ratio against the plain loop.

Usage: python benchmarks/hoh_throughput.py [--epochs 2] [--max-batches N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from helpers.data import find_split, load_image_split
from helpers.models import HorsesHumansCNN
from helpers.training import get_device, make_optimizer, train_one_epoch


def plain_epoch(model, loader, optimizer, device) -> None:
    """The chapter's loop: sigmoid output, BCELoss, .item() on every batch."""
    criterion = nn.BCELoss()
    model.train()
    running_loss = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device).float()
        optimizer.zero_grad()
        outputs = torch.sigmoid(model(images)).view(-1)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()


def data_only_epoch(model, loader, optimizer, device) -> None:
    """The helpers data path with the plain loop's model settings (no per-batch sync)."""
    criterion = nn.BCEWithLogitsLoss()
    model.train()
    for images, labels in loader:
        optimizer.zero_grad()
        criterion(model(images).view(-1), labels.float()).backward()
        optimizer.step()


def helpers_epoch(model, loader, optimizer, device) -> None:
    """What the notebooks run: helpers.training.train_one_epoch."""
    train_one_epoch(model, loader, nn.BCEWithLogitsLoss(), optimizer, device)


class Counted:
    """Wrap a loader: count the images it yields, optionally stopping after ``max_batches``."""

    def __init__(self, loader, max_batches: int = -1) -> None:
        self.loader, self.max_batches, self.seen = loader, max_batches, 0

    def __iter__(self):
        for step, (images, labels) in enumerate(self.loader):
            if step == self.max_batches:
                return
            self.seen += len(labels)
            yield images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per variant")
    parser.add_argument("--max-batches", type=int, default=-1, help="cut epochs short (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    device = get_device()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    folder = find_split("horse-or-human/train")
    start = time.perf_counter()
    train = load_image_split("horse-or-human/train", 150).to(device)
    decode_seconds = time.perf_counter() - start
    plain_transform = transforms.Compose([
        transforms.Resize((150, 150)), transforms.ToTensor(),
        transforms.Normalize([0.5] * 3, [0.5] * 3)])
    plain_loader = DataLoader(datasets.ImageFolder(folder, transform=plain_transform),
                              batch_size=32, shuffle=True)
    fast_loader = helpers.InMemoryLoader(train, batch_size=32, shuffle=True)

    torch.manual_seed(0)
    variants = {}
    for name, epoch_fn, loader in (("plain", plain_epoch, plain_loader),
                                   ("data-only", data_only_epoch, fast_loader),
                                   ("helpers", helpers_epoch, fast_loader)):
        model = HorsesHumansCNN().to(device)
        if name == "helpers":
            model.to(memory_format=torch.channels_last)
            optimizer = make_optimizer(model, lr=1e-3)
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        variants[name] = (epoch_fn, model, loader, optimizer)

    for epoch_fn, model, loader, optimizer in variants.values():  # warm-up, not timed
        epoch_fn(model, Counted(loader, 3), optimizer, device)
    seconds = dict.fromkeys(variants, 0.0)
    images = dict.fromkeys(variants, 0)
    for _ in range(args.epochs):  # alternate, so drift in machine speed hits every variant
        for name, (epoch_fn, model, loader, optimizer) in variants.items():
            counted = Counted(loader, args.max_batches)
            sync()
            start = time.perf_counter()
            epoch_fn(model, counted, optimizer, device)
            sync()
            seconds[name] += time.perf_counter() - start
            images[name] += counted.seen

    rates = {name: images[name] / seconds[name] for name in variants}
    print(f"Horses-or-Humans training, 150x150, batch 32, {args.epochs} epoch(s) per variant, "
          f"on {device.type} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    print(f"{'variant':<10} {'images/s':>9} {'vs plain':>9}")
    for name, rate in rates.items():
        print(f"{name:<10} {rate:9.1f} {rate / rates['plain']:8.2f}x")
    print(f"one-time decode of {len(train)} images for the helpers paths: {decode_seconds:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "device": device.type, "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "epochs": args.epochs, "images_per_second": rates,
            "ratio_vs_plain": {k: v / rates["plain"] for k, v in rates.items()},
            "decode_seconds": decode_seconds}, indent=2))


if __name__ == "__main__":
    main()
