"""What every benchmark shares: the chapter's plain training loop, a timer, a race to a target
accuracy, and the report (ratios against the plain loop, not absolute times alone).

A benchmark script builds, for each *path* (``plain`` and ``helpers``), a model, a loader, an
optimizer and an epoch function, then calls :func:`race`. Both paths train the same model on
the same images with the same batch size; only the way the data and the loop are written
differs.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import helpers
from helpers.precision import choose_precision
from helpers.training import evaluate, make_optimizer, train_one_epoch


def plain_epoch(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
                optimizer: torch.optim.Optimizer, device: torch.device,
                one_logit: bool = False) -> None:
    """The chapter's loop: batches from a DataLoader, ``loss.item()`` read after every batch.

    ``one_logit``: a sigmoid output with BCELoss, as the chapter writes a binary classifier.
    """
    model.train()
    running_loss = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(images)
        if one_logit:
            loss = loss_fn(torch.sigmoid(outputs).view(-1), labels.float())
        else:
            loss = loss_fn(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()  # waits for the device, every batch


class Counted:
    """Wrap a loader: count the images it yields, optionally stopping after ``max_batches``."""

    def __init__(self, loader: Iterable, max_batches: int = -1) -> None:
        self.loader, self.max_batches, self.seen = loader, max_batches, 0

    def __iter__(self):
        for step, (images, labels) in enumerate(self.loader):
            if step == self.max_batches:
                return
            self.seen += len(labels)
            yield images, labels


@dataclass
class TrainingPath:
    """One way of training: ``epoch(loader)`` trains one epoch, ``accuracy()`` evaluates."""

    epoch: Callable[[Iterable], None]
    loader: Iterable
    accuracy: Callable[[], float]
    setup_seconds: float = 0.0  # one-time work this path needs (decoding, cached features)
    seconds: list[float] = field(default_factory=list)  # training time of each epoch
    images: int = 0
    accuracies: list[float] = field(default_factory=list)


def parse_args(doc: str, max_epochs: int) -> argparse.Namespace:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=max_epochs)
    parser.add_argument("--max-batches", type=int, default=-1, help="cut epochs short (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args()


def twin_paths(make_model: Callable[[], nn.Module], plain_loader: Iterable,
               fast_loader: Iterable, eval_loader: Iterable, device: torch.device,
               setup_seconds: float, loss_fn: nn.Module | None = None,
               one_logit: bool = False, seed: int = 0) -> dict[str, TrainingPath]:
    """Two copies of one freshly built model, with the same initial weights: one trained by the
    chapter's plain loop (plain Adam, fp32), one by ``helpers`` (channels-last, fused Adam, the
    device's precision from ``helpers.precision``).

    ``one_logit``: the plain loop uses sigmoid + BCELoss, helpers BCEWithLogitsLoss.
    """
    helpers.seed_everything(seed)
    plain_model = make_model().to(device)
    fast_model = make_model().to(device)
    fast_model.load_state_dict(plain_model.state_dict())
    fast_model.to(memory_format=torch.channels_last)
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    fast_opt = make_optimizer(fast_model, lr=1e-3)
    fast_scaler = choose_precision(device).scaler()  # on for fp16 only (a T4), kept across epochs
    loss_fn = loss_fn or (nn.BCEWithLogitsLoss() if one_logit else nn.CrossEntropyLoss())
    plain_loss = nn.BCELoss() if one_logit else loss_fn

    def accuracy_of(model: nn.Module) -> Callable[[], float]:
        return lambda: evaluate(model, eval_loader, loss_fn, device)[1]

    return {
        "plain": TrainingPath(
            lambda loader: plain_epoch(plain_model, loader, plain_loss, plain_opt, device,
                                       one_logit),
            plain_loader, accuracy_of(plain_model)),
        "helpers": TrainingPath(
            lambda loader: train_one_epoch(fast_model, loader, loss_fn, fast_opt, device,
                                           fast_scaler),
            fast_loader, accuracy_of(fast_model), setup_seconds=setup_seconds),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def race(paths: dict[str, TrainingPath], device: torch.device, target: float | None,
         max_epochs: int, max_batches: int = -1) -> dict:
    """Train every path epoch by epoch, alternating between them (so that drift in the
    machine's speed hits all), until each reaches ``target`` accuracy or ``max_epochs``.

    Only training is timed; evaluation after each epoch is not. ``target=None`` measures
    speed only (no evaluation). Returns the results as a dict.
    """
    for path in paths.values():  # warm-up (kernel selection, caches), not timed
        path.epoch(Counted(path.loader, 2))
    done: set[str] = set()
    for _ in range(max_epochs):
        for name, path in paths.items():
            if name in done:
                continue
            counted = Counted(path.loader, max_batches)
            _sync(device)
            start = time.perf_counter()
            path.epoch(counted)
            _sync(device)
            path.seconds.append(time.perf_counter() - start)
            path.images += counted.seen
            if target is not None:
                path.accuracies.append(path.accuracy())
                if path.accuracies[-1] >= target:
                    done.add(name)
        if len(done) == len(paths):
            break
    results = {}
    for name, path in paths.items():
        reached = next((i for i, a in enumerate(path.accuracies) if a >= target), None) \
            if target is not None else None
        results[name] = {
            "images_per_second": path.images / sum(path.seconds),
            "seconds_per_epoch": sum(path.seconds) / len(path.seconds),
            "setup_seconds": path.setup_seconds,
            "accuracy_by_epoch": [round(a, 4) for a in path.accuracies],
            "epochs_to_target": None if reached is None else reached + 1,
            "seconds_to_target": None if reached is None else
            path.setup_seconds + sum(path.seconds[:reached + 1]),
        }
    return results


def machine(device: torch.device) -> str:
    """A short description of where the benchmark ran."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():  # Linux names the CPU model here
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")]
        name = models[0] if models else name
    return f"{name}, {torch.get_num_threads()} threads"


def report(title: str, results: dict, device: torch.device, target: float | None,
           json_path: Path | None = None, extra: dict | None = None) -> None:
    """Print the table (every path against the plain loop) and optionally write JSON."""
    base = results["plain"]
    print(f"\n{title}\n{device.type}: {machine(device)} · torch {torch.__version__} · "
          f"{time.strftime('%Y-%m-%d')}")
    goal = "epochs to " + (format(target, ".0%") if target is not None else "target")
    print(f"{'path':<10} {'images/s':>9} {'ratio':>6} {'s/epoch':>8} "
          f"{goal:>15} {'s to target':>12} {'ratio':>6}")
    for name, row in results.items():
        to_target = row["seconds_to_target"]
        epochs = str(row["epochs_to_target"] or ("not reached" if target else "not measured"))
        speedup = (f"{base['seconds_to_target'] / to_target:5.2f}x"
                   if to_target and base["seconds_to_target"] else "     -")
        print(f"{name:<10} {row['images_per_second']:9.1f} "
              f"{row['images_per_second'] / base['images_per_second']:5.2f}x "
              f"{row['seconds_per_epoch']:8.1f} {epochs:>15} "
              f"{(f'{to_target:.0f}' if to_target else '-'):>12} {speedup}")
        print(f"{'':<10} accuracy by epoch: {row['accuracy_by_epoch']}"
              + (f" · one-time setup {row['setup_seconds']:.1f} s" if row["setup_seconds"] else ""))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({
            "title": title, "device": device.type, "machine": machine(device),
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "target": target,
            "results": results, **(extra or {})}, indent=2))
