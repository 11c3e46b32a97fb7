"""The checks around the training loop, kept out of the loop a learner reads.

Each one refuses, with what to change, something that would otherwise train on a meaningless
loss or fail deep inside PyTorch: a loss that does not fit the model's outputs, labels the model
cannot learn, images of a size it was not built for, nan images, an empty loader, a frozen
model, a ``device`` that is not where the model is. The first batch is checked before anything
learns from it; the label range of an epoch once, after it (one read from the GPU, not one per
batch).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from helpers.models import model_device
from helpers.precision import choose_precision


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why. ``history`` holds the finished epochs."""

    def __init__(self, message: str, history=None) -> None:
        super().__init__(message)
        self.history = history  # a helpers.History, set by fit


def device_for(model: nn.Module, device: torch.device | str | None = None) -> torch.device:
    """The device ``model`` runs on: where its weights are.

    Every helper that runs a model moves each batch there, so ``device`` is not needed; when it
    is given it must name that same device (a model left on the CPU while ``device`` says
    "cuda" would otherwise train on the CPU without a word).
    """
    where = model_device(model, device)
    if device is not None:
        asked = torch.device(device)
        if asked.type != where.type or asked.index not in (None, where.index):
            raise TrainingError(
                f"device={str(asked)!r} was asked for, but {type(model).__name__}'s weights are "
                f"on {where}. Move the model first (model.to({str(asked)!r})), or leave device "
                f"out: the helpers run a model where its weights are.")
    return where


def to_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device):
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


def check_batch(images: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor,
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
    check_labels(int(labels.min()), int(labels.max()), classes, "of the first batch")


def check_labels(low: int, high: int, classes: int, where: str) -> None:
    """Refuse labels from ``low`` to ``high`` that a model with ``classes`` outputs cannot learn."""
    if low < 0 or high >= max(classes, 2):
        can = "labels 0 and 1" if classes == 1 else f"labels 0 to {classes - 1}"
        raise TrainingError(
            f"The labels {where} go from {low} to {high}, but a model with {classes} "
            f"output{'s' * (classes > 1)} can only learn {can}. Give the model {high + 1} "
            f"outputs (and use nn.CrossEntropyLoss), or check the labels.")


def check_first_batch(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                      loss_fn: nn.Module) -> int:
    """Run the model once on the first batch and check it; return its number of outputs.

    In eval mode and without gradients, so batch norm and dropout are left untouched.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), choose_precision(images.device).autocast(), \
                images_it_takes(model, images):
            outputs = model(images)
    finally:
        model.train(was_training)
    check_batch(images, outputs, labels, loss_fn)
    return outputs.shape[-1]


@contextmanager
def images_it_takes(model: nn.Module, images: torch.Tensor) -> Iterator[None]:
    """Turn PyTorch's error for images a model cannot take (another size, another number of
    channels: it names two matrix shapes) into a TrainingError that says what to change."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as error:
        raise TrainingError(
            f"{type(model).__name__} cannot take these images, {list(images.shape[1:])} "
            f"(channels, height, width): {str(error).splitlines()[0]}. Give it images of the "
            f"size and channels it was built for (the size given to load_image_folder, "
            f"load_horses_or_humans or ImageTransform, for example).") from None


def checked_batches(loader: Iterable, model: nn.Module, loss_fn: nn.Module,
                    device: torch.device, what: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield the batches of ``loader`` on ``device``, refusing bad ones with what to change.

    A training batch of one image is skipped (with a warning) when the model has batch norm,
    which cannot normalise a single value per channel: the last batch of an epoch can be one.
    """
    seen, classes, top_label = 0, 0, torch.zeros((), device=device, dtype=torch.long)
    for images, labels in loader:
        if len(labels) == 1 and model.training and has_batch_norm(model):
            warnings.warn(
                f"A {what} batch of one image was skipped: batch norm needs at least 2 images "
                f"per batch. Choose a batch_size that does not leave one image over (the "
                f"loader's images modulo batch_size is 1).", stacklevel=3)
            continue
        images, labels = to_device(images, labels, device)
        if not seen:
            classes = check_first_batch(model, images, labels, loss_fn)
        top_label = torch.maximum(top_label, labels.max())
        seen += len(labels)
        yield images, labels
    if not seen:
        raise TrainingError(no_batches(what, loader))
    check_labels(0, int(top_label), classes, f"of the {what} batches")


def has_batch_norm(model: nn.Module) -> bool:
    """True when ``model`` has a batch-norm layer in training mode."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
               for m in model.modules())


def no_batches(what: str, loader) -> str:
    """The message for a loader that gave no batches."""
    return (f"The {what} loader ({type(loader).__name__}) gave no batches: it holds no images. "
            f"Check the dataset it was made from (a subset or split of size 0?).")


def nothing_to_train(model: nn.Module) -> str:
    """The message for a model whose parameters are all frozen."""
    return (f"{type(model).__name__} has nothing to train: every parameter is frozen "
            f"(requires_grad=False). Unfreeze some layers, or train only the new part "
            f"(for a TransferNet: fit(model.head, ...) on cached features).")
