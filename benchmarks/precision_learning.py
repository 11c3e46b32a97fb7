"""Does a 16-bit precision hurt learning? Notebook 02's CNN trained in fp32 and in bf16 (or
the device's own 16-bit precision), side by side, over a few seeds.

For each seed both precisions start from the same initial weights and see the same batches in
the same order (the loader is seeded); only the precision of the forward pass differs. After
every epoch the model is measured on the 10,000 test images, in the precision it trains in,
which is how the chapter measured its 91%. The report gives each run's curve, the epoch at
which it first reached 91%, and the mean curve of each precision. Epoch times are printed too,
but this script does not take turns as the three-path benchmarks do: their images/s are the
speed measurement, this one is about learning.

Usage: python -m benchmarks.precision_learning [--seeds 3] [--epochs 6] [--max-batches N]
                                               [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

import helpers
from benchmarks.common import Counted, machine
from helpers.models import FashionCNN
from helpers.precision import Precision, choose_precision
from helpers.training import evaluate, make_optimizer, train_one_epoch

TARGET = 0.91  # the chapter's test accuracy for its CNN


def curve(precision: Precision, seed: int, train: helpers.InMemoryLoader,
          test: helpers.InMemoryLoader, epochs: int, max_batches: int = -1
          ) -> tuple[list[float], list[float]]:
    """Test accuracy and training seconds after each epoch of one run."""
    helpers.seed_everything(seed)
    model = FashionCNN().to(train.device).to(memory_format=torch.channels_last)
    optimizer, loss_fn = make_optimizer(model, lr=1e-3), nn.CrossEntropyLoss()
    train.generator.manual_seed(seed)  # the same batches, in the same order, in both precisions
    accuracies, seconds = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        train_one_epoch(model, Counted(train, max_batches), loss_fn, optimizer,
                        precision=precision)
        seconds.append(time.perf_counter() - start)
        accuracies.append(round(evaluate(model, test, loss_fn, precision=precision)[1], 4))
    return accuracies, seconds


def first_at_target(accuracies: list[float]) -> int | None:
    return next((epoch for epoch, a in enumerate(accuracies, 1) if a >= TARGET), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--max-batches", type=int, default=-1, help="a smoke test: short epochs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    device = helpers.get_device()
    own = choose_precision(device)
    low = own if own.dtype != torch.float32 else choose_precision(device, "bf16")
    precisions = {"fp32": choose_precision(device, "fp32"), low.name: low}
    train, test = (data.to(device) for data in helpers.load_fashion_mnist())
    pixels = train.images.float() / 255
    mean, std = pixels.mean().item(), pixels.std().item()
    train_loader = helpers.InMemoryLoader(train, batch_size=64, shuffle=True, mean=mean, std=std)
    test_loader = helpers.InMemoryLoader(test, batch_size=512, mean=mean, std=std)
    print(f"Notebook 02's CNN on Fashion-MNIST, fp32 against {low.name}: {device.type}: "
          f"{machine(device)} · torch {torch.__version__} · {time.strftime('%Y-%m-%d')}\n"
          f"this device trains in {own}")
    runs = []
    for seed in range(args.seeds):
        for name, precision in precisions.items():
            accuracies, seconds = curve(precision, seed, train_loader, test_loader, args.epochs,
                                        args.max_batches)
            runs.append({"seed": seed, "precision": name, "test_accuracy": accuracies,
                         "seconds": [round(s, 1) for s in seconds],
                         "epochs_to_target": first_at_target(accuracies)})
            print(f"seed {seed} {name:<5} test accuracy by epoch "
                  f"{' '.join(f'{a:.2%}' for a in accuracies)} · 91% at epoch "
                  f"{runs[-1]['epochs_to_target'] or 'not reached'} · "
                  f"{sum(seconds) / len(seconds):.1f} s an epoch", flush=True)
    means = {}
    for name in precisions:
        mine = torch.tensor([run["test_accuracy"] for run in runs if run["precision"] == name])
        means[name] = [round(a, 4) for a in mine.mean(dim=0).tolist()]
        print(f"mean of {args.seeds} seeds, {name:<5}: "
              f"{' '.join(f'{a:.2%}' for a in means[name])}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "device": device.type, "machine": machine(device), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"), "own_precision": str(own), "target": TARGET,
            "runs": runs, "mean_test_accuracy": means}, indent=2))


if __name__ == "__main__":
    main()
