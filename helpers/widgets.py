"""The upload classifier: a learner's own photos, classified by a trained model, with a chart
and a heat-map of where the model found its answer (``helpers.explain``).

An ipywidgets box (under ipywidgets 7, Colab's, and 8 alike) that carries a still of its first
state, which pages that cannot run widgets (GitHub, nbviewer) show in its place. Nothing a
learner uploads is kept in the saved notebook. How photos of any size reach the kernel (shrunk
in the browser, Colab's uploader, or the stock button) is in ``helpers.upload``. The kernel
editor and augmentation explorer are in ``helpers.explorers``.
"""
from __future__ import annotations

import base64
import html

import ipywidgets as widgets
import matplotlib.pyplot as plt

from helpers.plots import figure_png

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


EMPTY_UPLOAD = ("the upload arrived empty: the stock upload button drops large files (Colab's "
                "from about 1 MB, Jupyter's above about 10 MB). Try a smaller photo; or run "
                "`pip install anywidget` and restart, for the button that shrinks photos "
                "first; or save the photo beside the notebook and pass its path to "
                "helpers.predict_image.")

COLAB_EMPTY = ("the upload arrived empty (0 bytes). Check that the file opens on your computer "
               "and choose it again, or upload it to Colab's Files pane and pass its path to "
               "helpers.predict_image.")


class PhotoClassifier(WithStill, widgets.VBox):
    """An upload button that classifies each uploaded photo and shows its probabilities and,
    beside them, where in the photo the model found its answer (Grad-CAM, ``helpers.explain``).

    It is a widget (a VBox: help text, button, results): make it a cell's last line, or pass it
    to ``display``. Several files can be chosen at once; each new upload replaces what was
    shown before, and a file that gives no answer gets a one-line reason while the others
    still display. Its still is a line saying what it does, for pages that cannot run it.

    How photos arrive (``route``, chosen by ``helpers.upload.upload_route``): "browser" shrinks
    them in the browser first (any size works); "colab" opens Colab's own uploader as the cell
    runs (run the cell again, or call ``classify_from_colab()``, for more); "stock" is
    ipywidgets' FileUpload (small files only).
    """

    def __init__(self, model, class_names: list[str], transform, topk: int = 3,
                 route: str | None = None) -> None:
        from helpers.upload import upload_route

        self.model, self.class_names, self.transform, self.topk = (
            model, class_names, transform, topk)
        self.route, self.answers, self.heat_maps = route or upload_route(), {}, {}
        if self.route == "browser":
            from helpers.upload import PhotoUpload

            self.upload = PhotoUpload(self.classify)
        elif self.route == "colab":
            self.upload = widgets.HTML("<i>On Colab, photos are chosen with Colab's own "
                                       "uploader, above. Run this cell again for more.</i>")
        elif self.route == "stock":
            self.upload = widgets.FileUpload(accept="image/*", multiple=True,
                                             description="Upload photos")
            self.upload.observe(self._on_upload, names="value")
        else:
            raise ValueError(f"route must be 'browser', 'colab', 'stock' or None (chosen for "
                             f"you), not {route!r}.")
        self.results = widgets.VBox()
        names = html.escape(", ".join(map(str, class_names)))
        help_text = widgets.HTML(
            f"Choose one or more photos; each is classified as one of: <b>{names}</b>. The "
            f"heat-map beside it shows where the model found the evidence for its answer.")
        super().__init__([help_text, self.upload, self.results])
        self.still = {"text/html": f"<p><i>Upload widget: run the notebook to choose photos; "
                                   f"each is classified as one of: {names}.</i></p>"}
        if self.route == "colab":
            self.classify_from_colab()

    def classify_from_colab(self) -> None:
        """Open Colab's uploader in this cell's output, wait for the photos, classify them."""
        from helpers.upload import colab_upload

        files = colab_upload()
        if files:
            self.classify([(name, data or COLAB_EMPTY) for name, data in files])
        else:
            self.results.children = [_failure("no photo", "none was chosen (or the upload was "
                                              "cancelled). Run this cell again to choose one.")]

    def _on_upload(self, change) -> None:
        # JupyterLab shows no traceback from a widget callback: every failure must be a line.
        try:
            files = uploaded_files(change["new"])
        except Exception as error:
            self.results.children = [_failure("the upload", f"could not be read ({error}).")]
            return
        self.classify(files)

    def classify(self, files: list[tuple[str, bytes | str]]) -> None:
        """Classify each (name, bytes) pair and show the results in place of the last ones.

        In place of the bytes, a str is the reason a file has none (shown as its line)."""
        from helpers.inference import predict_image
        from helpers.preprocess import ImageError, open_image

        self.results.children, self.answers, self.heat_maps = [], {}, {}  # the last batch goes
        rows = []
        for name, data in files:
            name = str(name)
            if isinstance(data, str) or not data:
                rows.append(_failure(name, data or EMPTY_UPLOAD))
                continue
            try:
                picture = open_image(data)  # its errors say "this file": the line names it
                predictions = predict_image(self.model, picture, self.class_names,
                                            self.transform, self.topk)
                self.answers[name] = predictions
                rows.append(self._chart_and_heat_map(name, picture, predictions))
            except ImageError as error:
                rows.append(_failure(name, str(error)))
            except Exception as error:  # the model, the transform, the chart: say, don't hide
                rows.append(_failure(name, f"no answer ({_reason(error)})"))
        self.results.children = rows

    def _chart_and_heat_map(self, name: str, picture, predictions) -> widgets.Widget:
        """The chart, and beside it the Grad-CAM map of the predicted class over the photo; a
        map that cannot be made is a line under the chart (the answer is shown either way)."""
        from helpers.explain import grad_cam
        from helpers.plots import heat_map_png

        label, panel = predictions[0][0], None
        try:
            heat = grad_cam(self.model, self.transform(picture), self.class_names.index(label))
        except Exception as error:
            heat, reason = None, _reason(error)
        picture.thumbnail((256, 256))
        chart = widgets.Image(value=_probability_chart(name, picture, predictions), format="png")
        try:
            if heat is not None:
                panel = widgets.Image(value=heat_map_png(picture, heat, f"where it sees {label}"),
                                      format="png")
        except Exception as error:
            reason = _reason(error)
        if panel is None:
            return widgets.VBox([chart, _failure(name, f"no heat-map ({reason})")])
        self.heat_maps[name] = heat
        panel.add_class("heat-map")
        return widgets.HBox([chart, panel])


def _reason(error: Exception) -> str:
    """An exception in one line: its type and the first line of its message."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
