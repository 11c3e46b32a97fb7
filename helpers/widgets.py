"""Interactive widgets: a 3x3 kernel editor, an upload classifier and an augmentation explorer.

Each is an ipywidgets widget (a box of widgets), so it displays the way the installed ipywidgets
displays widgets: version 7 (Colab's) and version 8 alike. Each also carries a still of its
first state, which pages that cannot run widgets (GitHub, nbviewer) show in its place.
"""

from __future__ import annotations

import base64
import html

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from helpers.progress import figure_png

KERNEL_PRESETS: dict[str, list[list[float]]] = {
    "vertical lines": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal lines": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "blur (average)": [[1 / 9] * 3] * 3,
    "edges (all directions)": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "the chapter's example": [[-1, 0, -2], [0.5, 4.5, -1.5], [1.5, 2, -3]],
}


# --------------------------------------------------------------------------------------
# Stills: what a page that cannot run widgets (GitHub, nbviewer) shows of each widget
# --------------------------------------------------------------------------------------

IPYWIDGETS_MAJOR = int(widgets.__version__.split(".")[0])
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class WithStill:
    """Mixin for a widget: ``still`` (mime type -> data) is displayed along with the widget.

    A live notebook draws the widget (its view ranks above any picture); GitHub and nbviewer,
    which cannot, draw the still instead: a picture or a line of HTML about the widget.
    """

    still: dict[str, str] = {}

    if IPYWIDGETS_MAJOR >= 8:
        def _repr_mimebundle_(self, **kwargs) -> dict:  # how ipywidgets 8 displays a widget
            return {**self.still, **super()._repr_mimebundle_(**kwargs)}
    else:
        def _ipython_display_(self, **kwargs) -> None:  # how ipywidgets 7 displays one
            from IPython.display import display

            text = repr(self)
            view = {"version_major": 2, "version_minor": 0, "model_id": self.model_id}
            display({**self.still, "text/plain": text[:110] + "…" * (len(text) > 110),
                     WIDGET_VIEW: view}, raw=True)
            self._handle_displayed(**kwargs)


class StillHBox(WithStill, widgets.HBox):
    """An HBox displayed with a still of its first state (see WithStill)."""


def png_still(fig, dpi: int = 72) -> dict[str, str]:
    """A still of a matplotlib figure: {"image/png": base64 text}, as a notebook stores it."""
    return {"image/png": base64.b64encode(figure_png(fig, dpi)).decode("ascii")}


# --------------------------------------------------------------------------------------
# The kernel editor
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Classify your own photos
# --------------------------------------------------------------------------------------


def uploaded_files(value) -> list[tuple[str, bytes]]:
    """Turn a FileUpload value into [(name, bytes)], for ipywidgets 8 (a tuple of dicts with
    'name' and 'content') and ipywidgets 7 (a dict {name: {'metadata': ..., 'content': ...}})."""
    if isinstance(value, dict):  # ipywidgets 7
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value]


def _probability_chart(name: str, thumbnail, predictions: list[tuple[str, float]]) -> bytes:
    """A PNG: the thumbnail beside a bar chart of the class probabilities.

    Every text is drawn literally (parse_math=False): a "$" in a file name is not maths.
    """
    import warnings

    fig, (ax_image, ax_bars) = plt.subplots(1, 2, figsize=(7.5, 2.4),
                                            gridspec_kw={"width_ratios": [1, 2]})
    ax_image.imshow(thumbnail)
    ax_image.set_title(name if len(name) < 28 else name[:25] + "...", fontsize=9,
                       parse_math=False)
    ax_image.axis("off")
    labels = [label for label, _ in predictions][::-1]
    values = [p for _, p in predictions][::-1]
    bars = ax_bars.barh(range(len(values)), values,
                        color=["#9db4d6"] * (len(values) - 1) + ["#2b6cb0"])
    ax_bars.set_yticks(range(len(values)), labels, parse_math=False)
    ax_bars.bar_label(bars, labels=[f"{v:.1%}" for v in values], padding=3, fontsize=9)
    ax_bars.set_xlim(0, 1.15)
    ax_bars.set_xlabel("probability")
    ax_bars.set_title(f"prediction: {predictions[0][0]}", fontsize=10, parse_math=False)
    with warnings.catch_warnings():  # a glyph the font lacks (emoji, some scripts) is a box
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
        png = figure_png(fig, dpi=90)
    plt.close(fig)
    return png


def _failure(name: str, reason: str):
    """One red line: "✗ name: reason", shown literally (a name is never read as HTML)."""
    return widgets.HTML(f"<span style='color:#b00'>✗ {html.escape(name)}: "
                        f"{html.escape(reason)}</span>")


class PhotoClassifier(WithStill, widgets.VBox):
    """An upload button that classifies each uploaded photo and shows its probabilities.

    It is a widget (a VBox: help text, button, results): make it a cell's last line, or pass it
    to ``display``. Several files can be chosen at once; each new upload replaces what was
    shown before, and a file that gives no answer gets a one-line reason while the others
    still display. Its still is a line saying what it does, for pages that cannot run it.
    """

    def __init__(self, model, class_names: list[str], transform, topk: int = 3) -> None:
        self.model, self.class_names, self.transform, self.topk = (
            model, class_names, transform, topk)
        self.upload = widgets.FileUpload(accept="image/*", multiple=True,
                                         description="Upload photos")
        self.results = widgets.VBox()
        self.upload.observe(self._on_upload, names="value")
        names = html.escape(", ".join(map(str, class_names)))
        help_text = widgets.HTML(
            f"Choose one or more photos; each is classified as one of: <b>{names}</b>.")
        super().__init__([help_text, self.upload, self.results])
        self.still = {"text/html": f"<p><i>Upload widget: run the notebook to choose photos; "
                                   f"each is classified as one of: {names}.</i></p>"}

    def _on_upload(self, change) -> None:
        # JupyterLab shows no traceback from a widget callback: every failure must be a line.
        try:
            files = uploaded_files(change["new"])
        except Exception as error:
            self.results.children = [_failure("the upload", f"could not be read ({error}).")]
            return
        self.classify(files)

    def classify(self, files: list[tuple[str, bytes]]) -> None:
        """Classify each (name, bytes) pair and show the results in place of the last ones."""
        from helpers.inference import predict_image
        from helpers.preprocess import ImageError, open_image

        self.results.children = []  # never leave the previous batch's charts on screen
        rows = []
        for name, data in files:
            name = str(name)
            if not data:
                rows.append(_failure(name, "the upload arrived empty (browsers and Colab can "
                                           "drop large files). Try a smaller photo, or pass "
                                           "its path to helpers.predict_image."))
                continue
            try:
                picture = open_image(data)  # its errors say "this file": the line names it
                predictions = predict_image(self.model, picture, self.class_names,
                                            self.transform, self.topk)
                picture.thumbnail((256, 256))
                rows.append(widgets.Image(value=_probability_chart(name, picture, predictions),
                                          format="png"))
            except ImageError as error:
                rows.append(_failure(name, str(error)))
            except Exception as error:  # the model, the transform, the chart: say, don't hide
                reason = str(error).splitlines()[0] if str(error) else ""
                rows.append(_failure(name, f"no answer ({type(error).__name__}: {reason})"))
        self.results.children = rows


# --------------------------------------------------------------------------------------
# Augmentation explorer
# --------------------------------------------------------------------------------------


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
