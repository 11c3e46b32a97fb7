"""From images to answers: the predicted class of every image in a loader (``predict``), and
the class probabilities of one photo (``predict_image``).

Opening images and their preprocessing live in ``helpers.preprocess``, saving and reloading in
``helpers.saving``; their names are repeated here so ``from helpers.inference import ...`` works.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from helpers.models import model_device
from helpers.precision import choose_precision
from helpers.preprocess import MAX_PIXELS, ImageError, ImageTransform, open_image
from helpers.safety import TrainingError, device_for, images_it_takes, no_batches, to_device
from helpers.saving import check_outputs, load_model, model_path, save_model

__all__ = ["MAX_PIXELS", "ImageError", "ImageTransform", "load_model", "model_path",
           "open_image", "predict", "predict_image", "save_model"]


@torch.inference_mode()
def predict(model: nn.Module, loader: Iterable,
            device: torch.device | str | None = None) -> torch.Tensor:
    """Return the predicted class index for every image in ``loader``, in order, on the CPU.

    It runs where the model's weights are (``device`` is not needed; checked if given).
    """
    device = device_for(model, device)
    model.eval()
    precision, predictions = choose_precision(device), []
    for images, labels in loader:
        images, _ = to_device(images, labels, device)
        with precision.autocast(), images_it_takes(model, images):
            outputs = model(images).float()
        if outputs.shape[-1] == 1:
            predictions.append((outputs.squeeze(-1) > 0).long())
        else:
            predictions.append(outputs.argmax(dim=-1))
    if not predictions:
        raise TrainingError(no_batches("prediction", loader))
    return torch.cat(predictions).cpu()


@torch.inference_mode()
def predict_image(model: nn.Module, image, class_names: list[str], transform,
                  topk: int = 3) -> list[tuple[str, float]]:
    """Classify one image (path, bytes or PIL image); return [(class, probability)], best first.

    A one-logit model (sigmoid output) gives both classes; a many-logit model its ``topk``.
    Raises ImageError for an unusable image and ValueError when the model's output is not a
    number (nan or infinite), so no made-up probability is ever returned.
    """
    pixels = transform(open_image(image)).unsqueeze(0).to(model_device(model))
    model.eval()
    with images_it_takes(model, pixels):
        logits = model(pixels).float().squeeze(0).cpu()
    check_outputs(logits.numel(), list(class_names))
    if not torch.isfinite(logits).all():
        raise ValueError(f"The model's output is {logits.tolist()}, not a number, so it gives "
                         f"no answer. Its weights are broken (did training diverge, with a "
                         f"nan loss?): retrain it with a smaller learning rate, or reload a "
                         f"saved model.")
    if logits.numel() == 1:
        p = torch.sigmoid(logits).item()
        probabilities = torch.tensor([1 - p, p])
    else:
        probabilities = torch.softmax(logits, dim=0)
    top = probabilities.topk(min(topk, len(probabilities)))
    return [(class_names[i], float(p)) for p, i in zip(top.values, top.indices)]
