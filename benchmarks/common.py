"""What every benchmark shares: three ways of training one model, a race between them, and the
report, which splits the helpers' gain into what keeping the data in memory is worth and what
the model-side settings are worth.

A benchmark script builds the three *paths* below for one notebook's model and calls
:func:`race`. All three train the same model from the same initial weights on the same images,
with the same batch size, loss and learning rate, and are evaluated the same way:

* ``plain``    - the chapter's data pipeline (a torchvision dataset or ``ImageFolder``, per-item
                 transforms, a ``DataLoader`` without workers) and the chapter's loop
                 (:func:`plain_epoch`: plain Adam, the default memory layout, fp32,
                 ``loss.item()`` read after every batch).
* ``settings`` - the same data pipeline, the same loader object, with the helpers' model side:
                 ``helpers.train_one_epoch`` (no per-batch read of the loss), fused Adam
                 (``make_optimizer``), channels-last weights and batches, the device's precision
                 (bf16 or fp16 autocast on a GPU, bf16 on a CPU with native bf16, else fp32).
* ``helpers``  - what the notebooks run: the same model side, the images decoded once and kept
                 in memory (``InMemoryLoader``, batches normalised, and augmented, where they
                 live).
* ``helpers-fp32`` - only where the device's precision is not fp32: the helpers path in fp32,
                 so that one run shows both precisions' speed and learning, from the same
                 initial weights.

So ``settings / plain`` is what the model-side settings are worth, ``helpers / settings`` what
keeping the data in memory is worth, ``helpers / plain`` both together, and ``helpers /
helpers-fp32`` what the lower precision is worth. Each script's
docstring says what else, if anything, differs between its paths.
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import helpers
from helpers.precision import Precision, choose_precision
from helpers.training import evaluate, make_optimizer, train_one_epoch

PATHS = ("plain", "settings", "helpers")
FP32 = "helpers-fp32"  # the fourth path, where the device trains in bf16 or fp16
SPLIT = {  # ratio name: (faster path, slower path)
    "model-side settings": ("settings", "plain"),
    "data in memory": ("helpers", "settings"),
    "together": ("helpers", "plain"),
    "precision": ("helpers", FP32),
}


def plain_epoch(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
                optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """The chapter's loop: each batch moved to the device, ``loss.item()`` read after it.

    A one-logit model's output is squeezed to [N] for ``BCEWithLogitsLoss``, as the helpers'
    loop does, so both compute the same loss.
    """
    model.train()
    running_loss = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(images)
        if outputs.shape[-1] == 1:
            loss = loss_fn(outputs.squeeze(-1), labels.float())
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
    images: list[int] = field(default_factory=list)  # images trained on in each epoch
    accuracies: list[float] = field(default_factory=list)
    model: nn.Module | None = None  # the model it trains, for the tests


def parse_args(doc: str, max_epochs: int) -> argparse.Namespace:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=max_epochs)
    parser.add_argument("--max-batches", type=int, default=-1,
                        help="cut epochs short (a smoke test, or speed only)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args()


def plain_path(model: nn.Module, loader: Iterable, loss_fn: nn.Module, device: torch.device,
               accuracy: Callable[[], float], parameters=None) -> TrainingPath:
    """The chapter's loop over ``model`` (plain Adam over ``parameters``, default: all)."""
    optimizer = torch.optim.Adam(model.parameters() if parameters is None else parameters,
                                 lr=1e-3)
    return TrainingPath(lambda batches: plain_epoch(model, batches, loss_fn, optimizer, device),
                        loader, accuracy, model=model)


def helpers_side(model: nn.Module, loader: Iterable, loss_fn: nn.Module, device: torch.device,
                 accuracy: Callable[[], float], setup_seconds: float = 0.0,
                 precision: Precision | None = None) -> TrainingPath:
    """The helpers' model side over ``model``: channels-last weights, fused Adam,
    ``train_one_epoch`` in ``precision`` (default: the device's; one GradScaler kept across
    epochs, as ``fit`` keeps it; it does something only in fp16)."""
    model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, lr=1e-3)
    precision = precision or choose_precision(device)
    scaler = precision.scaler()
    return TrainingPath(
        lambda batches: train_one_epoch(model, batches, loss_fn, optimizer, device, scaler,
                                        precision),
        loader, accuracy, setup_seconds=setup_seconds, model=model)


def three_paths(make_model: Callable[[], nn.Module], chapter_loader: Iterable,
                memory_loader: Iterable, eval_loader: Iterable, device: torch.device,
                setup_seconds: float, loss_fn: nn.Module, seed: int = 0
                ) -> dict[str, TrainingPath]:
    """Copies of one freshly built model, with the same initial weights, one per path (four
    where the device's precision is not fp32: ``helpers-fp32`` joins).

    ``chapter_loader`` (the chapter's data pipeline) serves both ``plain`` and ``settings``;
    ``memory_loader`` serves ``helpers`` (and ``helpers-fp32``), whose ``setup_seconds``
    (decoding the images once) count in its time to the target. Each path is evaluated in the
    precision it trains in.
    """
    auto, fp32 = choose_precision(device), choose_precision(device, force="fp32")
    names = PATHS + ((FP32,) if auto.dtype != torch.float32 else ())
    helpers.seed_everything(seed)
    models = {name: make_model().to(device) for name in names}
    for name in names[1:]:
        models[name].load_state_dict(models["plain"].state_dict())

    def accuracy_of(name: str, precision: Precision) -> Callable[[], float]:
        return lambda: evaluate(models[name], eval_loader, loss_fn, device, precision)[1]

    paths = {
        "plain": plain_path(models["plain"], chapter_loader, loss_fn, device,
                            accuracy_of("plain", fp32)),
        "settings": helpers_side(models["settings"], chapter_loader, loss_fn, device,
                                 accuracy_of("settings", auto)),
        "helpers": helpers_side(models["helpers"], memory_loader, loss_fn, device,
                                accuracy_of("helpers", auto), setup_seconds),
    }
    if FP32 in names:
        paths[FP32] = helpers_side(models[FP32], memory_loader, loss_fn, device,
                                   accuracy_of(FP32, fp32), setup_seconds, fp32)
    return paths


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Turns:
    """Run one epoch of several paths at once, in turns: a path trains for about
    ``turn_seconds``, hands over at the end of a batch, and waits for its next turn. Only one
    path runs at any moment, and each path's clock runs only during its own turns, so anything
    else the machine does for more than a few seconds slows every path alike.

    Each epoch runs in a thread of its own (a path's loop is a plain function that cannot be
    paused otherwise); the caller's thread hands out the turns, in the order given.
    """

    def __init__(self, device: torch.device, turn_seconds: float) -> None:
        self.device, self.turn_seconds = device, turn_seconds
        self.changed = threading.Condition()
        self.running: str | None = None  # the path whose turn it is, None between turns

    def _wait_for_turn(self, name: str) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.running == name)

    def _hand_over(self) -> None:
        _sync(self.device)  # the turn's work is done, not only queued on a GPU
        with self.changed:
            self.running = None
            self.changed.notify_all()

    def _batches(self, name: str, loader: Iterable) -> Iterator:
        """``loader``'s batches; between two of them, hand over once the turn is used up."""
        turn_start = time.perf_counter()
        for batch in loader:
            if time.perf_counter() - turn_start >= self.turn_seconds:
                self._hand_over()
                self._wait_for_turn(name)
                turn_start = time.perf_counter()
            yield batch

    def run(self, epochs: dict[str, Callable[[Iterable], None]],
            loaders: dict[str, Iterable]) -> dict[str, float]:
        """Run ``epochs[name](loader)`` for every path in turns; return each one's seconds."""
        errors: dict[str, BaseException] = {}
        finished: set[str] = set()

        def work(name: str) -> None:
            self._wait_for_turn(name)
            try:
                epochs[name](self._batches(name, loaders[name]))
            except BaseException as error:  # raised again in the caller's thread
                errors[name] = error
            finally:
                finished.add(name)
                self._hand_over()

        threads = [threading.Thread(target=work, args=(name,), daemon=True) for name in epochs]
        for thread in threads:
            thread.start()
        seconds = dict.fromkeys(epochs, 0.0)
        while len(finished) < len(epochs):
            for name in epochs:
                if name in finished:
                    continue
                start = time.perf_counter()
                with self.changed:
                    self.running = name
                    self.changed.notify_all()
                    self.changed.wait_for(lambda: self.running is None)
                seconds[name] += time.perf_counter() - start
        for thread in threads:
            thread.join()
        if errors:
            raise next(iter(errors.values()))
        return seconds


def race(paths: dict[str, TrainingPath], device: torch.device, target: float | None,
         max_epochs: int, max_batches: int = -1, turn_seconds: float = 2.0) -> dict:
    """Train every path epoch by epoch until each reaches ``target`` accuracy or
    ``max_epochs``. In each round the paths still racing train one epoch together, in turns of
    about ``turn_seconds`` (:class:`Turns`); each round starts with the next path (plain,
    settings, helpers; then settings, helpers, plain; ...), so that neither going first nor
    anything else running on the machine favours one path.

    Only training is timed; evaluation after each epoch is not. ``target=None`` measures
    speed only (no evaluation). A path's speed (images/s) is measured over the rounds in which
    every path trained, so that all speeds come from the same stretch of time; time to target
    counts every epoch. Returns the results as a dict, and the order of each round.
    """
    names = list(paths)
    for path in paths.values():  # warm-up (kernel selection, caches), not timed
        path.epoch(Counted(path.loader, 2))
    done: set[str] = set()
    rounds = []
    for epoch in range(max_epochs):
        turn = epoch % len(names)
        order = [name for name in names[turn:] + names[:turn] if name not in done]
        rounds.append(order)
        counted = {name: Counted(paths[name].loader, max_batches) for name in order}
        _sync(device)
        seconds = Turns(device, turn_seconds).run(
            {name: paths[name].epoch for name in order}, counted)
        for name in order:
            path = paths[name]
            path.seconds.append(seconds[name])
            path.images.append(counted[name].seen)
            if target is not None:
                path.accuracies.append(path.accuracy())
                if path.accuracies[-1] >= target:
                    done.add(name)
        if len(done) == len(paths):
            break
    shared = min(len(path.seconds) for path in paths.values())  # rounds every path trained
    results = {}
    for name, path in paths.items():
        reached = next((i for i, a in enumerate(path.accuracies) if a >= target), None) \
            if target is not None else None
        results[name] = {
            "images_per_second": sum(path.images[:shared]) / sum(path.seconds[:shared]),
            "seconds_per_epoch": sum(path.seconds) / len(path.seconds),
            "seconds_by_epoch": path.seconds,
            "images_by_epoch": path.images,
            "setup_seconds": path.setup_seconds,
            "accuracy_by_epoch": [round(a, 4) for a in path.accuracies],
            "epochs_to_target": None if reached is None else reached + 1,
            "seconds_to_target": None if reached is None else
            path.setup_seconds + sum(path.seconds[:reached + 1]),
        }
    return {"results": results, "rounds": rounds, "shared_rounds": shared}


def split(results: dict) -> dict[str, float]:
    """The speed ratios: model-side settings, data in memory, both together and, where the
    helpers path also ran in fp32, the precision."""
    speed = {name: row["images_per_second"] for name, row in results.items()}
    return {ratio: speed[fast] / speed[slow] for ratio, (fast, slow) in SPLIT.items()
            if fast in speed and slow in speed}


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


def report(title: str, race_result: dict, device: torch.device, target: float | None,
           json_path: Path | None = None, extra: dict | None = None) -> None:
    """Print the table (every path against the plain loop) and the split; optionally write
    everything as JSON."""
    results = race_result["results"]
    base = results["plain"]
    print(f"\n{title}\n{device.type}: {machine(device)} · torch {torch.__version__} · "
          f"precision {choose_precision(device).name} (the plain path: fp32) · "
          f"{time.strftime('%Y-%m-%d')}")
    goal = "epochs to " + (format(target, ".0%") if target is not None else "target")
    print(f"images/s over the {race_result['shared_rounds']} round(s) every path trained; "
          f"epochs in turns of about 2 s")
    print(f"{'path':<12} {'images/s':>9} {'ratio':>6} {'s/epoch':>8} "
          f"{goal:>15} {'s to target':>12} {'ratio':>6}")
    for name, row in results.items():
        to_target = row["seconds_to_target"]
        epochs = str(row["epochs_to_target"] or ("not reached" if target else "not measured"))
        speedup = (f"{base['seconds_to_target'] / to_target:5.2f}x"
                   if to_target and base["seconds_to_target"] else "     -")
        print(f"{name:<12} {row['images_per_second']:9.1f} "
              f"{row['images_per_second'] / base['images_per_second']:5.2f}x "
              f"{row['seconds_per_epoch']:8.1f} {epochs:>15} "
              f"{(f'{to_target:.0f}' if to_target else '-'):>12} {speedup}")
        print(f"{'':<12} accuracy by epoch: {row['accuracy_by_epoch']}"
              + (f" · one-time setup {row['setup_seconds']:.1f} s" if row["setup_seconds"] else ""))
    ratios = split(results)
    print("speed ratios: " + ", ".join(f"{name} {value:.2f}x" for name, value in ratios.items()))
    print("order of each round: " + "; ".join(", ".join(order) for order in race_result["rounds"]))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({
            "title": title, "device": device.type, "machine": machine(device),
            "torch": torch.__version__, "precision": choose_precision(device).name,
            "date": time.strftime("%Y-%m-%d"), "target": target, "results": results,
            "ratios": ratios, "rounds": race_result["rounds"],
            "shared_rounds": race_result["shared_rounds"], **(extra or {})}, indent=2))
