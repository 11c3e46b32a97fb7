"""Two explorers: a 3x3 kernel editor (notebook 01) and an augmentation explorer (notebook 04).

Each is an ipywidgets box that redraws a figure when a control moves, under ipywidgets 7
(Colab's) and 8 alike, and carries a still of its first state for pages that cannot run
widgets (GitHub, nbviewer). The upload classifier is in ``helpers.widgets``.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from helpers.widgets import StillHBox, png_still

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

    Filtered values are clipped to 0-255 for display, as an image viewer would. Its still is
    the first figure: the preset's filtered and pooled image.
    """
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
            editor.still = editor.still or png_still(fig)
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
    controls = widgets.VBox([chooser, widgets.Label("Kernel (edit any cell):"), grid, pooling])
    editor = StillHBox([controls, output])
    load_preset()
    return editor



def augmentation_explorer(image: torch.Tensor):
    """Return a widget with sliders for each augmentation, showing the image before and after.

    ``image`` is a uint8 tensor [3, H, W]. Its still is the first figure (nothing moved yet).
    """
    from torchvision.transforms.v2 import functional as TF

    def slider(description, low, high, step, value=0.0):
        return widgets.FloatSlider(value=value, min=low, max=high, step=step,
                                   description=description, continuous_update=False)

    controls = {
        "angle": slider("rotation °", -45, 45, 1),
        "shift_x": slider("shift x", -0.3, 0.3, 0.02),
        "shift_y": slider("shift y", -0.3, 0.3, 0.02),
        "shear": slider("shear °", -30, 30, 1),
        "zoom": slider("zoom", 0.5, 1.5, 0.05, 1.0),
        "hflip": widgets.Checkbox(description="flip left-right"),
        "vflip": widgets.Checkbox(description="flip upside down"),
    }
    output = widgets.Output()
    height, width = image.shape[-2:]

    def redraw(*_) -> None:
        c = {name: control.value for name, control in controls.items()}
        moved = TF.affine(image, angle=c["angle"], scale=c["zoom"], shear=[c["shear"], 0.0],
                          translate=[round(c["shift_x"] * width), round(c["shift_y"] * height)])
        if c["hflip"]:
            moved = TF.horizontal_flip(moved)
        if c["vflip"]:
            moved = TF.vertical_flip(moved)
        with output:
            output.clear_output(wait=True)
            fig, axes = plt.subplots(1, 2, figsize=(8, 4))
            for ax, picture, title in ((axes[0], image, "original"), (axes[1], moved, "augmented")):
                ax.imshow(picture.permute(1, 2, 0).cpu().numpy())
                ax.set_title(title)
                ax.axis("off")
            explorer.still = explorer.still or png_still(fig)
            plt.show()

    for control in controls.values():
        control.observe(redraw, names="value")
    explorer = StillHBox([widgets.VBox(list(controls.values())), output])
    redraw()
    return explorer
