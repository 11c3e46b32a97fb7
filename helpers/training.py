"""The training loop: one epoch of training, evaluation, and ``fit`` that records a History."""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.models import model_device
from helpers.precision import choose_precision
from helpers.progress import LivePlot


def get_device() -> torch.device:
    """Pick the best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def setup_notebook() -> tuple[torch.device, bool]:
    """Print the versions, the device and the mode a notebook runs with; return (device, QUICK).

    QUICK (set by the environment variable CONVNET_QUICK, as the tests do) shrinks every run.
    """
    import torchvision

    from helpers.data import is_quick

    device, quick = get_device(), is_quick()
    print(f"torch {torch.__version__} · torchvision {torchvision.__version__} · device {device}"
          f"{' · QUICK mode' if quick else ''}")
    return device, quick


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU) so a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


@dataclass
class History:
    """Per-epoch loss and accuracy (fractions 0-1) for training and validation."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped: str = ""  # why training ended before its last epoch ("" when it did not)

    def __len__(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        if not self:
            return "History(no epochs)"
        stopped = f"; stopped early: {self.stopped}" if self.stopped else ""
        return (f"History({len(self)} epochs; last: train acc {self.train_acc[-1]:.3f}, "
                f"val acc {self.val_acc[-1]:.3f}; {sum(self.seconds):.1f} s{stopped})")


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why. ``history`` holds the finished epochs."""

    def __init__(self, message: str, history: History | None = None) -> None:
        super().__init__(message)
        self.history = history


def _check_batch(images: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor,
                 loss_fn: nn.Module) -> None:
    """Refuse, with what to change, a first batch that would train on a meaningless loss."""
    classes = outputs.shape[-1]
    if classes == 1 and isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        raise TrainingError(
            f"The model has one output (a logit) but the loss is {type(loss_fn).__name__}, "
            f"which needs one output per class: with one output it means nothing. Use "
            f"loss_fn=nn.BCEWithLogitsLoss() (fit's default is CrossEntropyLoss), or give the "
            f"model one output per class.")
    if classes > 1 and isinstance(loss_fn, (nn.BCEWithLogitsLoss, nn.BCELoss)):
        raise TrainingError(
            f"The model has {classes} outputs but the loss is {type(loss_fn).__name__}, which "
            f"needs one output. Use loss_fn=nn.CrossEntropyLoss() (fit's default).")
    if not torch.isfinite(images).all():
        raise TrainingError(
            "The first batch of images holds nan or infinite values. Check the data, and the "
            "loader's mean and std (a std of 0 divides by zero).")
    _check_labels(int(labels.min()), int(labels.max()), classes, "of the first batch")


def _check_labels(low: int, high: int, classes: int, where: str) -> None:
    """Refuse labels from ``low`` to ``high`` that a model with ``classes`` outputs cannot learn."""
    if low < 0 or high >= max(classes, 2):
        can = "labels 0 and 1" if classes == 1 else f"labels 0 to {classes - 1}"
        raise TrainingError(
            f"The labels {where} go from {low} to {high}, but a model with {classes} "
            f"output{'s' * (classes > 1)} can only learn {can}. Give the model {high + 1} "
            f"outputs (and use nn.CrossEntropyLoss), or check the labels.")


def _loss_and_correct(outputs: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module):
    """Loss and number of correct answers, for one-logit (binary) or many-logit models."""
    if outputs.shape[-1] == 1:  # one logit: P(class 1) = sigmoid(logit)
        outputs = outputs.squeeze(-1)
        loss = loss_fn(outputs, labels.float())
        correct = ((outputs > 0).long() == labels).sum()
    else:
        loss = loss_fn(outputs, labels)
        correct = (outputs.argmax(dim=-1) == labels).sum()
    return loss, correct


def _to_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device):
    """Move a batch to ``device``; 4-D images go channels-last (faster convolutions).

    Integer labels of any width (NumPy makes int32) become int64, what the losses expect. Only a
    copy to a GPU is left to finish in the background: one to the CPU must be complete before
    the CPU reads it.
    """
    background = device.type == "cuda"
    images = images.to(device, non_blocking=background)
    if images.ndim == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    if not (labels.is_floating_point() or labels.dtype == torch.long):
        labels = labels.long()
    return images, labels.to(device, non_blocking=background)


def _run_on(model: nn.Module, device, loss_fn: nn.Module | None = None) -> torch.device:
    """The model's own device (whatever ``device`` says); the loss's weights, if any, go there."""
    device = model_device(model, device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)  # e.g. CrossEntropyLoss(weight=...) made on the CPU
    return device


def make_optimizer(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam over the trainable parameters; the fused kernel where the device has one."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError(_nothing_to_train(model))
    device = trainable[0].device
    return torch.optim.Adam(trainable, lr=lr, fused=device.type in ("cpu", "cuda"))


def _checked_batches(loader: Iterable, model: nn.Module, loss_fn: nn.Module,
                     device: torch.device, what: str):
    """Yield the batches of ``loader`` on ``device``, refusing bad ones with what to change.

    The first batch is checked before anything learns from it (one forward pass in eval mode,
    so batch norm and dropout are untouched); the label range of all batches is checked once,
    after the last (one read from the device, not one per batch).
    """
    seen, classes, top_label = 0, 0, torch.zeros((), device=device, dtype=torch.long)
    for images, labels in loader:
        images, labels = _to_device(images, labels, device)
        if not seen:
            classes = _check_first_batch(model, images, labels, loss_fn)
        top_label = torch.maximum(top_label, labels.max())
        seen += len(labels)
        yield images, labels
    if not seen:
        raise TrainingError(_empty(what, loader))
    _check_labels(0, int(top_label), classes, f"of the {what} batches")


def _check_first_batch(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                       loss_fn: nn.Module) -> int:
    """Run the model once on the first batch and check it; return its number of outputs."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), choose_precision(images.device).autocast():
        outputs = model(images)
    model.train(was_training)
    _check_batch(images, outputs, labels, loss_fn)
    return outputs.shape[-1]


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, device: torch.device | str | None = None,
                    scaler: torch.amp.GradScaler | None = None) -> tuple[float, float]:
    """Train for one pass over ``loader``; return (mean loss, accuracy).

    Batches go where the model's weights are (``device`` is not needed) and are checked on the
    way (``_checked_batches``); the forward pass runs in the device's precision, and the scaler
    is only switched on for fp16 (``helpers.precision``). The totals stay on the device and are
    read once, at the end: the loop itself never waits for the GPU.
    """
    device = _run_on(model, device, loss_fn)
    precision = choose_precision(device)
    scaler = scaler or precision.scaler()
    model.train()
    total_loss, total_correct, seen = torch.zeros((), device=device), 0, 0
    for images, labels in _checked_batches(loader, model, loss_fn, device, "training"):
        with precision.autocast():
            outputs = model(images)                                          # 1. forward
            loss, correct = _loss_and_correct(outputs.float(), labels, loss_fn)  # 2. loss
        optimizer.zero_grad(set_to_none=True)                                # 3. clear
        scaler.scale(loss).backward()                                        # 4. gradients
        scaler.step(optimizer)                                               # 5. update
        scaler.update()
        total_loss += loss.detach() * len(labels)
        total_correct += correct
        seen += len(labels)
    return total_loss.item() / seen, int(total_correct) / seen


@torch.inference_mode()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
             device: torch.device | str | None = None) -> tuple[float, float]:
    """Return (mean loss, accuracy) of ``model`` on ``loader``, in eval mode.

    It runs where the model's weights are, and moves each batch there (``device`` is not
    needed: see ``helpers.models.model_device``).
    """
    device = _run_on(model, device, loss_fn)
    precision = choose_precision(device)
    model.eval()
    total_loss, total_correct, seen = torch.zeros((), device=device), 0, 0
    for images, labels in _checked_batches(loader, model, loss_fn, device, "evaluation"):
        with precision.autocast():
            loss, correct = _loss_and_correct(model(images).float(), labels, loss_fn)
        total_loss += loss * len(labels)
        total_correct += correct
        seen += len(labels)
    return total_loss.item() / seen, int(total_correct) / seen


def _empty(what: str, loader) -> str:
    return (f"The {what} loader ({type(loader).__name__}) gave no batches: it holds no images. "
            f"Check the dataset it was made from (a subset or split of size 0?).")


def _nothing_to_train(model: nn.Module) -> str:
    return (f"{type(model).__name__} has nothing to train: every parameter is frozen "
            f"(requires_grad=False). Unfreeze some layers, or train only the new part "
            f"(for a TransferNet: fit(model.head, ...) on cached features).")


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable, epochs: int,
        loss_fn: nn.Module | None = None, optimizer: torch.optim.Optimizer | None = None,
        device: torch.device | str | None = None, lr: float = 1e-3,
        verbose: bool = True, progress: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs, validating after each; return the History.

    Args:
        loss_fn: defaults to CrossEntropyLoss (use BCEWithLogitsLoss for a one-logit model).
        optimizer: defaults to Adam over the trainable parameters with learning rate ``lr``.
        device: not needed: training runs where the model's weights are, and each batch is
            moved there (see ``helpers.models.model_device``).
        verbose: print one line per epoch (it stays, as the record of the run).
        progress: show a progress bar over each epoch's batches and, in a notebook, a plot of
            loss and accuracy redrawn after every epoch. Both disappear when they are done.
    The model's weights are switched to channels-last memory order (same numbers, faster
    convolutions on both CPU and GPU). Interrupting (Ctrl-C, or the notebook's stop button)
    ends training after saying so and returns the History of the finished epochs. A loss that
    does not fit the model, an empty loader or a nan loss raise TrainingError; its
    ``history`` holds the finished epochs. The model is left in eval mode.
    """
    if not any(p.requires_grad for p in model.parameters()):
        raise TrainingError(_nothing_to_train(model))
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = _run_on(model, device, loss_fn)
    model.to(memory_format=torch.channels_last)
    optimizer = optimizer or make_optimizer(model, lr)
    scaler = choose_precision(device).scaler()  # kept across epochs: it learns its scale
    history = History()
    live_plot = LivePlot(epochs, show=progress and epochs > 1)
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            with tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                      disable=not progress) as batches:
                train_loss, train_acc = train_one_epoch(model, batches, loss_fn, optimizer,
                                                        device, scaler)
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                history.stopped = f"epoch {epoch}: loss is not a number"
                raise TrainingError(
                    f"Epoch {epoch}: the loss became {train_loss} (training) and {val_loss} "
                    f"(validation), so the weights are now broken and training stopped. Try a "
                    f"smaller learning rate (e.g. lr={lr / 10:g}), and check the images for "
                    f"nan values. The {len(history)} finished epochs are in this error's "
                    f".history.", history)
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
            history.seconds.append(time.perf_counter() - start)
            if verbose:
                print(f"epoch {epoch:>2}/{epochs}  train loss {train_loss:.4f} acc "
                      f"{train_acc:.3f}  |  val loss {val_loss:.4f} acc {val_acc:.3f}  |  "
                      f"{history.seconds[-1]:.1f} s", file=sys.stdout, flush=True)
            live_plot.update(history)
    except KeyboardInterrupt:
        history.stopped = f"interrupted during epoch {epoch}"
        print(f"Training interrupted during epoch {epoch} of {epochs}: returning the History of "
              f"the {len(history)} finished epochs. The model keeps its weights as they are "
              f"now (including part of epoch {epoch}).", file=sys.stdout, flush=True)
    except TrainingError as error:
        error.history = history
        raise
    finally:
        live_plot.close()
        model.eval()
    return history


@torch.inference_mode()
def predict(model: nn.Module, loader: Iterable,
            device: torch.device | str | None = None) -> torch.Tensor:
    """Return the predicted class index for every image in ``loader``, in order, on the CPU.

    It runs where the model's weights are, and moves each batch there (``device`` is not
    needed: see ``helpers.models.model_device``).
    """
    device = _run_on(model, device)
    model.eval()
    precision, predictions = choose_precision(device), []
    for images, labels in loader:
        images, _ = _to_device(images, labels, device)
        with precision.autocast():
            outputs = model(images).float()
        if outputs.shape[-1] == 1:
            predictions.append((outputs.squeeze(-1) > 0).long())
        else:
            predictions.append(outputs.argmax(dim=-1))
    if not predictions:
        raise TrainingError(_empty("prediction", loader))
    return torch.cat(predictions).cpu()
