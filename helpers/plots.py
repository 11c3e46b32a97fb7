"""Figures the notebooks share: training curves, image grids, feature maps; a figure as PNG."""

from __future__ import annotations

import io
import math
from typing import Protocol

import matplotlib.pyplot as plt
import torch


class History(Protocol):
    """What the curves are drawn from: a ``helpers.History`` (named here without importing
    ``helpers.training``, which draws its live plot with ``draw_history``)."""

    train_loss: list[float]
    train_acc: list[float]
    val_loss: list[float]
    val_acc: list[float]

    def __len__(self) -> int: ...


def figure_png(fig, dpi: int) -> bytes:
    """A matplotlib figure as PNG bytes (for a display, or a widget's still)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def finish_figure(fig, title: str):
    """Grid, legend and whole-number epochs on every axis; a title; tight layout."""
    for ax in fig.axes:
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_history(fig, history: History, epochs: int | None = None) -> None:
    """Draw loss and accuracy per epoch, training against validation, on ``fig``'s two axes;
    the x axis spans ``epochs`` when given (the live plot during ``fit``)."""
    done = range(1, len(history) + 1)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, name, train, val in (
            (ax_loss, "Loss", history.train_loss, history.val_loss),
            (ax_acc, "Accuracy", history.train_acc, history.val_acc)):
        ax.plot(done, train, "o-", label="training")
        ax.plot(done, val, "s--", label="validation")
        ax.set(title=name, xlabel="epoch",
               ylabel="loss" if name == "Loss" else "accuracy (fraction correct)")
        if epochs:
            ax.set_xlim(0.5, epochs + 0.5)


def plot_history(history: History, title: str = "Training history"):
    """Plot loss and accuracy per epoch, training against validation (overfitting shows)."""
    fig = plt.figure(figsize=(11, 3.8))
    draw_history(fig, history)
    return finish_figure(fig, title)


def _as_displayable(image: torch.Tensor):
    """[C, H, W] tensor (uint8 or float) -> array matplotlib can show."""
    image = image.detach().cpu()
    if image.dtype != torch.uint8:
        image = (image - image.min()) / (image.max() - image.min() + 1e-8)
    return image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)


def show_images(images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                predictions: torch.Tensor | None = None, ncols: int = 8,
                title: str | None = None):
    """Show a grid of images with their labels; with predictions, mistakes are marked in red."""
    count = len(images)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.9 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= count:
            continue
        ax.imshow(_as_displayable(images[i]), cmap="gray")
        truth = class_names[int(labels[i])]
        if predictions is None:
            ax.set_title(truth, fontsize=8)
        else:
            guess = class_names[int(predictions[i])]
            wrong = guess != truth
            text = f"{guess}\n(true: {truth})" if wrong else guess
            ax.set_title(text, fontsize=8, color="red" if wrong else "black")
            if wrong:
                ax.add_patch(plt.Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False,
                                           edgecolor="red", linewidth=3))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_feature_maps(maps: dict[str, torch.Tensor], channels: int = 8, title: str | None = None):
    """Show the first ``channels`` maps of each layer's output, one row per layer."""
    fig, axes = plt.subplots(len(maps), channels, figsize=(1.5 * channels, 1.7 * len(maps)),
                             squeeze=False)
    for row, (name, output) in enumerate(maps.items()):
        for col in range(channels):
            ax = axes[row, col]
            ax.imshow(output[col], cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f"{name}\n{tuple(output.shape[1:])}", fontsize=8)
            if row == 0:
                ax.set_title(f"filter {col}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_filtered(images: dict[str, torch.Tensor], title: str | None = None, size: float = 4.0):
    """Show named 2-D images side by side in grey, each titled with its name and shape."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size), squeeze=False)
    for ax, (name, image) in zip(axes.flat, images.items()):
        ax.imshow(image, cmap="gray")
        ax.set_title(f"{name}\n{image.shape[0]} x {image.shape[1]}")
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_histories(histories: dict[str, History], title: str = "Runs compared"):
    """Plot validation and training accuracy of several runs on shared axes."""
    fig, (ax_val, ax_train) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for name, history in histories.items():
        epochs = range(1, len(history) + 1)
        ax_val.plot(epochs, history.val_acc, "o-", label=name)
        ax_train.plot(epochs, history.train_acc, "o-", label=name)
    ax_val.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy (fraction correct)")
    ax_train.set(title="Training accuracy", xlabel="epoch")
    return finish_figure(fig, title)


def overlay(ax, image, heat, title: str = "", opacity: float = 0.7) -> None:
    """Draw ``heat`` (a map in 0...1) over ``image`` (a tensor [C, H, W] or a PIL picture),
    stretched to the image's size: the hotter, the redder and the more opaque; cold is clear."""
    shown = _as_displayable(image) if isinstance(image, torch.Tensor) else image
    height, width = shown.shape[:2] if hasattr(shown, "shape") else shown.size[::-1]
    heat = torch.as_tensor(heat).detach().cpu().float().clamp(0, 1).numpy()
    colours = plt.get_cmap("turbo")(heat)
    colours[..., 3] = opacity * heat  # cold parts leave the image as it is
    ax.imshow(shown, cmap="gray")
    ax.imshow(colours, extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="bilinear")
    ax.set_title(title, fontsize=8, parse_math=False)
    ax.set_xticks([])
    ax.set_yticks([])


def show_heat_maps(images: torch.Tensor, maps: dict[str, torch.Tensor],
                   titles: list[str] | None = None, title: str | None = None, size: float = 1.8):
    """One column per image: the image on top, then each named map [N, H, W] (0...1) over it,
    one row per map (its name on the left)."""
    rows, count = 1 + len(maps), len(images)
    fig, axes = plt.subplots(rows, count, figsize=(size * count, size * rows + 0.5),
                             squeeze=False)
    for col in range(count):
        axes[0, col].imshow(_as_displayable(images[col]), cmap="gray")
        axes[0, col].set_title(titles[col] if titles else "", fontsize=8, parse_math=False)
        axes[0, col].set_xticks([])
        axes[0, col].set_yticks([])
        for row, heat in enumerate(maps.values(), start=1):
            overlay(axes[row, col], images[col], heat[col])
    for row, name in enumerate(["image", *maps]):
        axes[row, 0].set_ylabel(name, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def heat_map_png(picture, heat: torch.Tensor, title: str, dpi: int = 90) -> bytes:
    """A PNG of ``heat`` over ``picture`` (a PIL thumbnail): the upload widget's second panel."""
    fig, ax = plt.subplots(figsize=(2.4, 2.4))
    overlay(ax, picture, heat, title if len(title) < 32 else title[:29] + "...")
    fig.tight_layout()
    png = figure_png(fig, dpi)
    plt.close(fig)
    return png
