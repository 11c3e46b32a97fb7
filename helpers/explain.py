"""Where a network looks: Grad-CAM and occlusion maps of a photo (notebook 09, the upload widget).

* Grad-CAM (Selvaraju et al., 2017): a forward hook keeps the activations of the last
  convolutional block; the gradient of the chosen class's score with respect to them, averaged
  over each map, weighs the maps; their weighted sum, through a ReLU and upsampled to the
  photo, shows where the evidence for that class lies.
* Occlusion (Zeiler and Fergus, 2014) needs no gradient: slide a grey patch over the photo and
  record how much the probability of the class drops.

A one-logit model (sigmoid: class 1 when the logit is positive) scores class 1 with its logit
and class 0 with minus its logit. Every function leaves the model's modes (train/eval), its
``requires_grad`` flags, its parameters' ``.grad`` and its hooks as it found them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from helpers.models import model_device


def target_layer(model: nn.Module) -> nn.Module:
    """The last convolutional block of ``model``, the layer Grad-CAM looks into.

    For a TransferNet, in its frozen base: timm's EfficientNet ends with ``conv_head`` and
    ``bn2`` (batch norm + activation: we take its output), Inception v3 with ``Mixed_7c``. Our
    CNNs keep their convolutions in ``features``. Any other model: its last ``nn.Conv2d``.
    """
    base = model.base if isinstance(getattr(model, "base", None), nn.Module) else model
    children = dict(base.named_children())
    if "conv_head" in children and "bn2" in children:
        return children["bn2"]
    for name in ("Mixed_7c", "features"):
        if isinstance(children.get(name), nn.Module):
            return children[name]
    convolutions = [m for m in base.modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        raise ValueError(f"{type(model).__name__} has no convolutional layer (nn.Conv2d) for "
                         f"Grad-CAM to look into. Pass layer= naming the module whose output "
                         f"[N, C, h, w] to use, or use helpers.explain.occlusion, which works "
                         f"with any model.")
    return convolutions[-1]


def class_scores(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Each row's score for its class: the class's logit; for a one-logit model the logit
    (class 1) or minus the logit (class 0), so that a higher score always means "more so"."""
    if logits.shape[1] == 1:
        return torch.where(classes == 1, logits[:, 0], -logits[:, 0])
    return logits.gather(1, classes.view(-1, 1))[:, 0]


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities [N, K]: softmax, or for a one-logit model [1 - p, p], p = sigmoid."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return logits.softmax(dim=1)


def scaled(maps: torch.Tensor) -> torch.Tensor:
    """Each map [.., H, W] clipped at 0 and divided by its largest value (all zero stays zero)."""
    maps = maps.clamp(min=0)
    top = maps.flatten(-2).amax(dim=-1)[..., None, None]
    return torch.where(top > 0, maps / top.clamp(min=1e-12), maps)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _as_batch(model: nn.Module, images) -> tuple[torch.Tensor, bool]:
    """A batch [N, C, H, W] on the model's device, and whether one image [C, H, W] was given."""
    if not (isinstance(images, torch.Tensor) and images.ndim in (3, 4)
            and images.is_floating_point() and images.numel()):
        raise ValueError(f"Give one image [C, H, W] or a batch [N, C, H, W] of float pixels, "
                         f"normalised as the model was trained (its transform or loader does "
                         f"it), not {_describe(images)}.")
    batch = images.unsqueeze(0) if images.ndim == 3 else images
    return batch.to(model_device(model)), images.ndim == 3


def _run(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The model's logits [N, K] for ``batch``; a shape it cannot take is a clear ValueError."""
    try:
        logits = model(batch)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as error:
        raise ValueError(f"{type(model).__name__} could not run on images of shape "
                         f"{tuple(batch.shape[1:])} ({str(error).splitlines()[0]}). Give it "
                         f"images as its transform makes them (size and channels).") from error
    if logits.ndim != 2:
        raise ValueError(f"{type(model).__name__} returned {_describe(logits)}; a classifier "
                         f"returns one row of class scores per image [N, classes].")
    return logits.float()


def _classes(logits: torch.Tensor, class_index) -> torch.Tensor:
    """The class of each image: ``class_index`` (one for all, or one per image), checked, or
    the predicted class when it is None."""
    count, n = max(logits.shape[1], 2), len(logits)
    if class_index is None:
        return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)
    classes = torch.as_tensor(class_index, device=logits.device).long().flatten()
    if classes.numel() not in (1, n):
        raise ValueError(f"Give one class index, or one per image ({n}), not {classes.numel()}.")
    if ((classes < 0) | (classes >= count)).any():
        raise ValueError(f"class_index {class_index} is out of range: this model has {count} "
                         f"classes, numbered 0 to {count - 1}.")
    return classes.expand(n)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """The model in eval mode (no dropout; batch norm's running statistics) for the duration,
    every module's own mode put back afterwards."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode


def grad_cam(model: nn.Module, images: torch.Tensor, class_index=None,
             layer: nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM maps of ``images`` for ``class_index`` (default: each image's predicted class).

    ``images`` are normalised as in training: one [C, H, W] gives a map [H, W], a batch
    [N, C, H, W] gives [N, H, W]. Each map is scaled to 0...1 (all zero where nothing speaks
    for the class), on the CPU. ``layer`` defaults to ``target_layer(model)``.
    """
    layer = target_layer(model) if layer is None else layer
    batch, single = _as_batch(model, images)
    kept: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise ValueError(f"Grad-CAM needs a layer whose output is maps [N, C, h, w]; "
                             f"{type(layer).__name__} gives {_describe(output)}.")
        # A fresh start for autograd: the gradient reaches it even when every layer before it
        # is frozen; the clone lets a later in-place op (ReLU(inplace=True)) change its copy.
        kept["activations"] = output.detach().requires_grad_()
        return kept["activations"].clone()

    hook = layer.register_forward_hook(keep)
    try:
        with evaluating(model), torch.inference_mode(False), torch.enable_grad():
            logits = _run(model, batch.clone())  # a clone: an inference-mode tensor cannot be
            if "activations" not in kept:        # saved for backward
                raise ValueError(f"The model never ran {type(layer).__name__}: pass a layer "
                                 f"its forward pass uses.")
            score = class_scores(logits, _classes(logits, class_index)).sum()
            (gradients,) = torch.autograd.grad(score, kept["activations"], allow_unused=True)
    finally:
        hook.remove()
    if gradients is None:
        raise ValueError(f"The class scores do not depend on {type(layer).__name__}'s output.")
    weights = gradients.mean(dim=(2, 3), keepdim=True)  # one weight per channel (map)
    maps = F.relu((weights * kept["activations"].detach()).sum(dim=1, keepdim=True))
    maps = F.interpolate(maps, size=batch.shape[-2:], mode="bilinear", align_corners=False)
    maps = scaled(maps[:, 0]).cpu()
    return maps[0] if single else maps


def _starts(side: int, patch: int, stride: int) -> list[int]:
    """Where a patch starts along one side: every ``stride`` pixels, the last one at the edge."""
    starts = list(range(0, side - patch + 1, stride))
    return starts if starts[-1] == side - patch else starts + [side - patch]


@torch.no_grad()
def occlusion(model: nn.Module, images: torch.Tensor, class_index=None, patch: int | None = None,
              stride: int | None = None, fill: float = 0.0, batch_size: int = 64,
              measure: str = "probability") -> torch.Tensor:
    """How much the probability of ``class_index`` (default: the predicted class) drops when a
    ``patch`` x ``patch`` square of ``fill`` covers each part of the image.

    ``fill`` 0 is the mean grey after normalisation. ``patch`` defaults to a quarter of the
    image's side, ``stride`` to half the patch. Each pixel gets the mean drop of the patches
    that cover it: [H, W] for one image, [N, H, W] for a batch, in probability (negative where
    covering raises it), on the CPU. ``measure="score"`` measures the drop of the class's score
    (``class_scores``: its logit) instead, which still moves when the probability is stuck at 1.
    """
    if measure not in ("probability", "score"):
        raise ValueError(f'measure must be "probability" or "score", not {measure!r}.')
    value = (lambda logits, classes: probabilities(logits).gather(1, classes.view(-1, 1))[:, 0]) \
        if measure == "probability" else class_scores
    batch, single = _as_batch(model, images)
    height, width = batch.shape[-2:]
    patch = patch or max(1, min(height, width) // 4)
    stride = stride or max(1, patch // 2)
    if not (1 <= patch <= min(height, width) and 1 <= stride <= patch):
        raise ValueError(f"patch must be 1 to {min(height, width)} pixels and stride 1 to patch "
                         f"(every pixel covered), not patch={patch}, stride={stride}.")
    places = [(top, left) for top in _starts(height, patch, stride)
              for left in _starts(width, patch, stride)]
    maps = []
    with evaluating(model):
        logits = _run(model, batch)
        classes = _classes(logits, class_index)
        before = value(logits, classes)
        for image, label, start in zip(batch, classes, before):
            covered = image.expand(len(places), -1, -1, -1).clone()
            for copy, (top, left) in zip(covered, places):
                copy[:, top:top + patch, left:left + patch] = fill
            after = torch.cat([value(_run(model, part), label.expand(len(part)))
                               for part in covered.split(batch_size)])
            drop = torch.zeros(height, width, device=batch.device)
            count = torch.zeros(height, width, device=batch.device)
            for change, (top, left) in zip(start - after, places):
                drop[top:top + patch, left:left + patch] += change
                count[top:top + patch, left:left + patch] += 1
            maps.append((drop / count).cpu())
    maps = torch.stack(maps)
    return maps[0] if single else maps
