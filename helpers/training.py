"""The training loop: one epoch of training, evaluation, and ``fit`` that records a History."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def get_device() -> torch.device:
    """Pick the best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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

    def __len__(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        if not self:
            return "History(no epochs)"
        return (f"History({len(self)} epochs; last: train acc {self.train_acc[-1]:.3f}, "
                f"val acc {self.val_acc[-1]:.3f}; {sum(self.seconds):.1f} s)")


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


def _autocast(device: torch.device):
    """Mixed precision on CUDA (bf16 where the GPU has it, else fp16); fp32 elsewhere."""
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _to_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device):
    """Move a batch to ``device``; 4-D images go channels-last (faster convolutions)."""
    images = images.to(device, non_blocking=True)
    if images.ndim == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(device, non_blocking=True)


def make_optimizer(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam over the trainable parameters; the fused kernel where the device has one."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    device = trainable[0].device
    return torch.optim.Adam(trainable, lr=lr, fused=device.type in ("cpu", "cuda"))


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, device: torch.device | str,
                    scaler: torch.amp.GradScaler | None = None) -> tuple[float, float]:
    """Train for one pass over ``loader``; return (mean loss, accuracy).

    Loss and correct counts are summed on the device and read once at the end, so the GPU
    never waits for the host inside the loop.
    """
    device = torch.device(device)
    model.train()
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for images, labels in loader:
        images, labels = _to_device(images, labels, device)
        with _autocast(device):
            outputs = model(images)
            loss, correct = _loss_and_correct(outputs.float(), labels, loss_fn)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total_loss += loss.detach() * len(labels)
        total_correct += correct
        seen += len(labels)
    return total_loss.item() / seen, total_correct.item() / seen


@torch.inference_mode()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
             device: torch.device | str) -> tuple[float, float]:
    """Return (mean loss, accuracy) of ``model`` on ``loader``, in eval mode."""
    device = torch.device(device)
    model.eval()
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for images, labels in loader:
        images, labels = _to_device(images, labels, device)
        with _autocast(device):
            loss, correct = _loss_and_correct(model(images).float(), labels, loss_fn)
        total_loss += loss * len(labels)
        total_correct += correct
        seen += len(labels)
    return total_loss.item() / seen, total_correct.item() / seen


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable, epochs: int,
        loss_fn: nn.Module | None = None, optimizer: torch.optim.Optimizer | None = None,
        device: torch.device | str | None = None, lr: float = 1e-3,
        verbose: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs, validating after each; return the History.

    Args:
        loss_fn: defaults to CrossEntropyLoss (use BCEWithLogitsLoss for a one-logit model).
        optimizer: defaults to Adam over the trainable parameters with learning rate ``lr``.
        device: defaults to where the model's parameters are.
    The model's weights are switched to channels-last memory order (same numbers, faster
    convolutions on both CPU and GPU).
    """
    device = torch.device(device) if device else next(model.parameters()).device
    model.to(memory_format=torch.channels_last)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = optimizer or make_optimizer(model, lr)
    use_scaler = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    history = History()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        train_loss, train_acc = train_one_epoch(model, train_loader, loss_fn, optimizer,
                                                device, scaler)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)
        history.seconds.append(time.perf_counter() - start)
        if verbose:
            print(f"epoch {epoch:>2}/{epochs}  train loss {train_loss:.4f} acc {train_acc:.3f}"
                  f"  |  val loss {val_loss:.4f} acc {val_acc:.3f}  |  "
                  f"{history.seconds[-1]:.1f} s", file=sys.stdout, flush=True)
    return history


@torch.inference_mode()
def predict(model: nn.Module, loader: Iterable, device: torch.device | str) -> torch.Tensor:
    """Return the predicted class index for every image in ``loader``, in order, on the CPU."""
    device = torch.device(device)
    model.eval()
    predictions = []
    for images, labels in loader:
        images, _ = _to_device(images, labels, device)
        with _autocast(device):
            outputs = model(images).float()
        if outputs.shape[-1] == 1:
            predictions.append((outputs.squeeze(-1) > 0).long())
        else:
            predictions.append(outputs.argmax(dim=-1))
    return torch.cat(predictions).cpu()
