"""The training loop: one epoch of training, an evaluation pass, and ``fit``, which runs both
for a number of epochs and records a History.

The five steps a learner writes (forward, loss, zero_grad, backward, step) are
``train_one_epoch``; the checks around them live in ``helpers.safety``, the choice of precision
in ``helpers.precision``, the live plot in ``helpers.progress``. Every function runs the model
where its weights are and moves each batch there: a ``device`` argument is only checked.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.precision import Precision, choose_precision
from helpers.progress import LivePlot
from helpers.safety import (
    TrainingError,
    check_labels,
    checked_batches,
    device_for,
    nothing_to_train,
)


@dataclass
class History:
    """Per-epoch loss and accuracy (fractions 0-1) for training and validation."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped: str = ""  # why training ended before its last epoch ("" when it did not)
    kept_epoch: int = 0  # with fit(keep_best=True): the epoch whose weights the model holds

    def __len__(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        if not self:
            return "History(no epochs)"
        stopped = f"; stopped early: {self.stopped}" if self.stopped else ""
        kept = f"; weights of epoch {self.kept_epoch} kept" if self.kept_epoch else ""
        return (f"History({len(self)} epochs; last: train acc {self.train_acc[-1]:.3f}, "
                f"val acc {self.val_acc[-1]:.3f}; {sum(self.seconds):.1f} s{stopped}{kept})")


def make_optimizer(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam over the trainable parameters; the fused kernel where the device has one."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError(nothing_to_train(model))
    device = trainable[0].device
    return torch.optim.Adam(trainable, lr=lr, fused=device.type in ("cpu", "cuda"))


def _loss_and_correct(outputs: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module):
    """Loss and number of correct answers, for one-logit (binary) or many-logit models."""
    if outputs.shape[-1] == 1:  # one logit: P(class 1) = sigmoid(logit)
        outputs = outputs.squeeze(-1)
        loss = loss_fn(outputs, labels.float())
        correct = ((outputs > 0).long() == labels).sum()
    else:
        try:
            loss = loss_fn(outputs, labels)
        except IndexError:  # a label past the last output (a GPU stops with an assert instead)
            check_labels(int(labels.min()), int(labels.max()), outputs.shape[-1], "of one batch")
            raise
        correct = (outputs.argmax(dim=-1) == labels).sum()
    return loss, correct


def _precision_for(device: torch.device, precision: Precision | None) -> Precision:
    """``precision``, else the device's; refused when it was chosen for another kind of device
    (its autocast would not reach this one)."""
    precision = precision or choose_precision(device)
    if precision.dtype != torch.float32 and precision.device_type != device.type:
        raise ValueError(f"This {precision.name} precision was chosen for a "
                         f"{precision.device_type} device, but the model is on {device.type}: "
                         f"use helpers.choose_precision({device.type!r}, {precision.name!r}).")
    return precision


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, device: torch.device | str | None = None,
                    scaler: torch.amp.GradScaler | None = None,
                    precision: Precision | None = None) -> tuple[float, float]:
    """Train for one pass over ``loader``; return (mean loss, accuracy).

    The forward pass runs in ``precision``, by default the device's (``helpers.precision``);
    the scaler only does something for fp16. The totals stay on the device and are read once,
    at the end; the GPU is otherwise waited for only by the first batch's checks and, in fp16,
    by the scaler, which must read whether each step's gradients overflowed before it updates.
    """
    device = device_for(model, device)
    loss_fn.to(device)  # a loss with class weights made on the CPU
    precision = _precision_for(device, precision)
    scaler = scaler or precision.scaler()
    model.train()
    total_loss, total_correct, seen = torch.zeros((), device=device), 0, 0
    for images, labels in checked_batches(loader, model, loss_fn, device, "training"):
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
             device: torch.device | str | None = None,
             precision: Precision | None = None) -> tuple[float, float]:
    """Return (mean loss, accuracy) of ``model`` on ``loader``, in eval mode and ``precision``
    (by default the device's)."""
    device = device_for(model, device)
    loss_fn.to(device)
    precision = _precision_for(device, precision)
    model.eval()
    total_loss, total_correct, seen = torch.zeros((), device=device), 0, 0
    for images, labels in checked_batches(loader, model, loss_fn, device, "evaluation"):
        with precision.autocast():
            loss, correct = _loss_and_correct(model(images).float(), labels, loss_fn)
        total_loss += loss * len(labels)
        total_correct += correct
        seen += len(labels)
    return total_loss.item() / seen, int(total_correct) / seen


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable, epochs: int,
        loss_fn: nn.Module | None = None, optimizer: torch.optim.Optimizer | None = None,
        device: torch.device | str | None = None, lr: float = 1e-3,
        verbose: bool = True, progress: bool = True, keep_best: bool = False,
        precision: Precision | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs, validating after each; return the History.

    Args:
        loss_fn: defaults to CrossEntropyLoss (use BCEWithLogitsLoss for a one-logit model).
        optimizer: defaults to Adam over the trainable parameters with learning rate ``lr``.
        device: not needed (training runs where the model's weights are); checked if given.
        verbose: print one line per epoch (it stays, as the record of the run).
        progress: show a progress bar over each epoch's batches and, in a notebook, a plot of
            loss and accuracy redrawn after every epoch. Both disappear when they are done.
        keep_best: end with the weights of the epoch with the lowest validation loss (as
            Keras' ModelCheckpoint and fastai's SaveModelCallback do); ``History.kept_epoch``
            says which. Validation chose it, so its validation score is optimistic: report
            the model on data that did not choose it.
        precision: the number format (``helpers.choose_precision``); default: the device's.
    The model's weights are switched to channels-last memory order (same numbers, faster
    convolutions). Interrupting (Ctrl-C, or the notebook's stop button) ends training after
    saying so and returns the History of the finished epochs. A loss that does not fit the
    model, an empty loader or a nan loss raise TrainingError; its ``history`` holds the
    finished epochs. The model is left in eval mode.
    """
    if not any(p.requires_grad for p in model.parameters()):
        raise TrainingError(nothing_to_train(model))
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = device_for(model, device)
    model.to(memory_format=torch.channels_last)
    optimizer = optimizer or make_optimizer(model, lr)
    precision = _precision_for(device, precision)
    scaler = precision.scaler()  # kept across epochs: it learns its scale
    history, best = History(), None
    live_plot = LivePlot(epochs, show=progress and epochs > 1)
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            with tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                      disable=not progress) as batches:
                train_loss, train_acc = train_one_epoch(model, batches, loss_fn, optimizer,
                                                        device, scaler, precision)
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, device, precision)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                history.stopped = f"epoch {epoch}: loss is not a number"
                raise TrainingError(
                    f"Epoch {epoch}: the loss became {train_loss} (training) and {val_loss} "
                    f"(validation), so the weights are now broken and training stopped. Try a "
                    f"smaller learning rate (e.g. lr={lr / 10:g}), and check the images for "
                    f"nan values. The {len(history)} finished epochs are in this error's "
                    f".history.", history)
            for name, value in (("train_loss", train_loss), ("train_acc", train_acc),
                                ("val_loss", val_loss), ("val_acc", val_acc),
                                ("seconds", time.perf_counter() - start)):
                getattr(history, name).append(value)
            if keep_best and val_loss <= min(history.val_loss):
                best = epoch, copy.deepcopy(model.state_dict())
            if verbose:
                print(f"epoch {epoch:>2}/{epochs}  train loss {train_loss:.4f} acc "
                      f"{train_acc:.3f}  |  val loss {val_loss:.4f} acc {val_acc:.3f}  |  "
                      f"{history.seconds[-1]:.1f} s", file=sys.stdout, flush=True)
            live_plot.update(history)
    except KeyboardInterrupt:
        history.stopped = f"interrupted during epoch {epoch}"
        print(f"Training interrupted during epoch {epoch} of {epochs}: returning the History of "
              f"the {len(history)} finished epochs.", file=sys.stdout, flush=True)
    except TrainingError as error:
        error.history = history
        raise
    finally:
        live_plot.close()
        model.eval()
    if best is not None:
        history.kept_epoch = best[0]
        model.load_state_dict(best[1])
        if verbose:
            print(f"kept the weights of epoch {best[0]} (lowest validation loss, "
                  f"{history.val_loss[best[0] - 1]:.4f})", file=sys.stdout, flush=True)
    elif history.stopped.startswith("interrupted"):
        print(f"The model keeps its weights as they are now (including part of epoch {epoch}).",
              file=sys.stdout, flush=True)
    return history
