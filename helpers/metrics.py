"""Class weights that counter imbalance, and the metrics that show whether they worked.

The metrics themselves come from scikit-learn; this module only gathers them for one run,
lines several runs up in a text table, and draws their confusion matrices side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    f1_score,
    recall_score,
)

from helpers.data import ImageSet

Labels = Sequence[int] | torch.Tensor | np.ndarray


def class_counts(data: ImageSet | Labels, num_classes: int | None = None) -> torch.Tensor:
    """Return the number of images of each class in an ImageSet (or in a list of labels)."""
    if isinstance(data, ImageSet):
        labels, num_classes = data.labels.cpu(), len(data.class_names)
    else:
        labels = torch.as_tensor(data).cpu()
    return torch.bincount(labels, minlength=num_classes or 0)


def class_weights(counts: ImageSet | Sequence[int] | torch.Tensor, method: str = "inverse",
                  beta: float = 0.999, average_over: str = "samples") -> torch.Tensor:
    """Return one loss weight per class: the rarer the class, the larger its weight.

    Args:
        counts: images per class, or an ImageSet whose classes are counted.
        method: ``"inverse"``: w_c ∝ 1 / n_c. ``"effective"``: w_c ∝ (1 - beta) / (1 - beta**n_c),
            one over the "effective number" of images of the class (Cui et al., 2019); it grows
            more slowly than n_c, so rare classes get a milder boost. beta near 1 tends to
            "inverse", beta = 0 gives every class the same weight.
        average_over: the scale. ``"samples"``: the weights average 1 over the training images,
            sum_c n_c·w_c = N (for "inverse" these are scikit-learn's "balanced" weights,
            N / (C·n_c)). ``"classes"``: the weights average 1 over the classes, sum_c w_c = C.
    Returns:
        A float32 tensor with one weight per class, for ``CrossEntropyLoss(weight=...)``.
    """
    if isinstance(counts, ImageSet):
        counts = class_counts(counts)
    n = torch.as_tensor(counts, dtype=torch.float64)
    if n.ndim != 1 or len(n) == 0:
        raise ValueError(f"counts must be a list with one number per class, got {counts!r}.")
    if (n <= 0).any():
        empty = [i for i, c in enumerate(n.tolist()) if c <= 0]
        raise ValueError(f"class(es) {empty} have no images: a weight of 1/0 is undefined. "
                         "Drop the class or collect images of it.")
    if method == "inverse":
        raw = 1 / n
    elif method == "effective":
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}.")
        raw = (1 - beta) / (1 - beta ** n)
    else:
        raise ValueError(f"method must be 'inverse' or 'effective', got {method!r}.")
    if average_over == "samples":
        weights = raw * n.sum() / (raw * n).sum()
    elif average_over == "classes":
        weights = raw * len(n) / raw.sum()
    else:
        raise ValueError(f"average_over must be 'samples' or 'classes', got {average_over!r}.")
    return weights.float()


def _array(labels: Labels) -> np.ndarray:
    return labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)


def scores(true: Labels, predicted: Labels, class_names: list[str]) -> dict[str, float]:
    """Return accuracy, balanced accuracy, macro-F1 and each class's recall, as fractions 0-1."""
    true, predicted = _array(true), _array(predicted)
    labels = list(range(len(class_names)))
    result = {
        "accuracy": accuracy_score(true, predicted),
        "balanced accuracy": balanced_accuracy_score(true, predicted),
        "macro-F1": f1_score(true, predicted, labels=labels, average="macro", zero_division=0),
    }
    recalls = recall_score(true, predicted, labels=labels, average=None, zero_division=0)
    result.update({f"recall {name}": float(r) for name, r in zip(class_names, recalls)})
    return {key: float(value) for key, value in result.items()}


def report(true: Labels, predicted: Labels, class_names: list[str]) -> str:
    """Return scikit-learn's text report: precision, recall, F1 and support for each class."""
    return classification_report(_array(true), _array(predicted),
                                 labels=list(range(len(class_names))),
                                 target_names=class_names, digits=3, zero_division=0)


def scores_table(runs: dict[str, dict[str, float]], columns: list[str] | None = None) -> str:
    """Format several runs' ``scores`` as a text table: one row per run, one column per score."""
    columns = columns or list(next(iter(runs.values())))
    widths = [max(len(c), 5) + 2 for c in columns]
    first = max(len(name) for name in runs)
    lines = [" " * first + "".join(f"{c:>{w}}" for c, w in zip(columns, widths))]
    for name, row in runs.items():
        lines.append(f"{name:<{first}}" + "".join(f"{row[c]:>{w}.3f}"
                                                  for c, w in zip(columns, widths)))
    return "\n".join(lines)


def plot_confusion_matrices(true: Labels, predictions: dict[str, Labels],
                            class_names: list[str], title: str = "Confusion matrices"):
    """Draw one confusion matrix per run side by side, on one colour scale (counts)."""
    true = _array(true)
    labels = list(range(len(class_names)))
    side = 4.2 if len(class_names) <= 4 else 0.55 * len(class_names) + 1.5
    fig, axes = plt.subplots(1, len(predictions), figsize=(side * len(predictions) + 0.1, side),
                             squeeze=False)
    for ax, (name, predicted) in zip(axes.flat, predictions.items()):
        ConfusionMatrixDisplay.from_predictions(
            true, _array(predicted), labels=labels, display_labels=class_names, ax=ax,
            colorbar=False, cmap="Blues", im_kw={"vmin": 0, "vmax": np.bincount(true).max()})
        ax.set(title=name, xlabel="predicted class", ylabel="true class")
        if len(class_names) > 4:  # long names side by side would overlap
            plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson 95% interval for an accuracy of ``correct`` out of ``total`` images.

    It says how far the accuracy could move on another sample of the same size: at 256
    images one image is 0.4 points and the interval is about ±4 points wide each way.
    """
    if total <= 0 or not 0 <= correct <= total:
        raise ValueError(f"{correct} correct out of {total} images is not an accuracy: need "
                         f"0 <= correct <= total and total > 0.")
    share = correct / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    low, high = centre - half / (1 + z * z / total), centre + half / (1 + z * z / total)
    return max(low, 0.0), min(high, 1.0)  # exact at 0 and 1, where rounding could print -0.0


def format_accuracy(accuracy: float, total: int) -> str:
    """An accuracy with its 95% interval: '91.3% (95% interval 90.8-91.9%, 10,000 images)'."""
    low, high = accuracy_interval(round(accuracy * total), total)
    return f"{accuracy:.1%} (95% interval {low:.1%}–{high:.1%}, {total:,} images)"
