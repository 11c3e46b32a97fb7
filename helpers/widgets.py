"""Interactive widgets (ipywidgets 7 and 8): a 3x3 kernel editor for filtering and pooling."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

KERNEL_PRESETS: dict[str, list[list[float]]] = {
    "vertical lines": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal lines": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "blur (average)": [[1 / 9] * 3] * 3,
    "edges (all directions)": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "the chapter's example": [[-1, 0, -2], [0.5, 4.5, -1.5], [1.5, 2, -3]],
}


def filter_image(image: np.ndarray, kernel) -> np.ndarray:
    """Slide a 3x3 kernel over a 2-D image (cross-correlation, as a CNN does); same size out."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float32))[None, None]
    return F.conv2d(x, k, padding=1)[0, 0].numpy()


def pool_image(image: np.ndarray, kind: str = "max", size: int = 2) -> np.ndarray:
    """Pool a 2-D image in size x size blocks, keeping the max, min or average of each."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    if kind == "max":
        pooled = F.max_pool2d(x, size)
    elif kind == "min":
        pooled = -F.max_pool2d(-x, size)
    elif kind == "average":
        pooled = F.avg_pool2d(x, size)
    else:
        raise ValueError(f"kind must be 'max', 'min' or 'average', not {kind!r}")
    return pooled[0, 0].numpy()


def kernel_editor(image: np.ndarray, preset: str = "vertical lines"):
    """Return a widget: edit a 3x3 kernel (or pick a preset) and see the filtered, pooled image.

    Filtered values are clipped to 0-255 for display, as an image viewer would.
    """
    import ipywidgets as widgets

    cells = [widgets.FloatText(layout=widgets.Layout(width="72px")) for _ in range(9)]
    grid = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns="repeat(3, 78px)"))
    chooser = widgets.Dropdown(options=list(KERNEL_PRESETS), value=preset, description="Preset")
    pooling = widgets.ToggleButtons(options=["max", "average", "min"], description="Pooling")
    output = widgets.Output()
    loading = {"now": False}

    def redraw(*_) -> None:
        if loading["now"]:
            return
        kernel = np.array([c.value for c in cells], dtype=np.float32).reshape(3, 3)
        filtered = np.clip(filter_image(image, kernel), 0, 255)
        pooled = pool_image(filtered, pooling.value)
        with output:
            output.clear_output(wait=True)
            fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
            panels = [("original", image), ("filtered (clipped to 0-255)", filtered),
                      (f"{pooling.value}-pooled 2x2", pooled)]
            for ax, (name, picture) in zip(axes, panels):
                ax.imshow(picture, cmap="gray")
                ax.set_title(f"{name}: {picture.shape[0]} x {picture.shape[1]}")
                ax.axis("off")
            plt.show()

    def load_preset(*_) -> None:
        loading["now"] = True
        for cell, value in zip(cells, np.ravel(KERNEL_PRESETS[chooser.value])):
            cell.value = round(float(value), 4)
        loading["now"] = False
        redraw()

    for cell in cells:
        cell.observe(redraw, names="value")
    chooser.observe(load_preset, names="value")
    pooling.observe(redraw, names="value")
    load_preset()
    controls = widgets.VBox([chooser, widgets.Label("Kernel (edit any cell):"), grid, pooling])
    return widgets.HBox([controls, output])
