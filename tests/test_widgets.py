"""The three widgets under whichever ipywidgets is installed: 8 here, 7.7.1 (Colab's) in CI's
second pass (.ci/run). Each must display as a widget view through a real IPython kernel (as a
cell's last line and through ``display``), with a still of its first state in the same output
(what GitHub shows), with every widget model it shows opened to the browser, and must react to
the messages a browser sends when the learner types, clicks or uploads. No browser is needed,
nor any dataset."""

from __future__ import annotations

import base64
import io
import os
import sys

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from jupyter_core.utils import run_sync
from PIL import Image
from traitlets.config import Config, SingletonConfigurable

from helpers.explorers import KERNEL_PRESETS, augmentation_explorer, filter_image, kernel_editor
from helpers.inference import ImageTransform
from helpers.models import HorsesHumansCNN, RPSNet
from helpers.widgets import PhotoClassifier, uploaded_files

MAJOR = int(ipywidgets.__version__.split(".")[0])
VIEW = "application/vnd.jupyter.widget-view+json"
CLASSES = ["horses", "humans"]


class Kernel:
    """An IPython kernel in this process, as a notebook's: what it sends the browser (iopub)
    is collected, and messages can be handed to it as the browser sends them."""

    def __init__(self) -> None:
        from ipykernel.inprocess.manager import InProcessKernelManager

        config = Config()
        config.HistoryManager.hist_file = ":memory:"  # no history file, no thread to save it
        self.manager = InProcessKernelManager(config=config)
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.kernel = self.manager.kernel
        # A notebook's kernel is the Kernel singleton, through which comms reach the browser
        # (an in-process kernel is not, so its widgets would open nothing): make it one.
        # Only the kernel's own classes: SingletonConfigurable itself stays empty, or every
        # other singleton (nbval's kernel manager's, say) would find this kernel in its place.
        self.singletons = [cls for cls in type(self.kernel).mro()
                           if issubclass(cls, SingletonConfigurable)
                           and cls is not SingletonConfigurable]
        for cls in self.singletons:
            cls._instance = self.kernel

    def sent(self) -> list[dict]:
        """The messages sent to the browser since the last call. They travel through a thread:
        all have arrived once a marker sent now arrives."""
        marker = self.kernel.session.send(self.kernel.iopub_socket, "marker", {})
        messages = []
        while (message := self.client.get_iopub_msg(timeout=10))["msg_id"] != marker["msg_id"]:
            messages.append(message)
        return messages

    def run(self, code: str, **names) -> list[dict]:
        """Run ``code`` as a cell, with ``names`` defined; return what the cell sent."""
        self.kernel.shell.user_ns.update(names)
        self.sent()
        self.client.execute(code)
        reply = self.client.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "ok", reply["content"]
        return self.sent()

    def make(self, expression: str, **names):
        """Evaluate ``expression`` in a cell, as a notebook does; return (its value, what the
        cell sent)."""
        sent = self.run(f"made = {expression}", **names)
        return self.kernel.shell.user_ns.pop("made"), sent

    def browser_sets(self, widget, state: dict, buffers: dict | None = None) -> list[dict]:
        """Change ``widget`` as the browser does: a comm message with the new state and any
        binary buffers (by path), handled by the kernel; return what the kernel sent back."""
        buffers = buffers or {}
        content = {"comm_id": widget.model_id,
                   "data": {"method": "update", "state": state,
                            "buffer_paths": [list(path) for path in buffers]}}
        message = self.client.session.msg("comm_msg", content)
        message["buffers"] = [memoryview(data) for data in buffers.values()]
        assert self.kernel.comm_manager.get_comm(widget.model_id), "the kernel knows no such widget"
        self.sent()
        self.client.session.send(self.kernel.shell_stream, message)
        run_sync(self.kernel.dispatch_shell)(self.kernel.shell_stream.recv_multipart())
        return self.sent()

    def browser_sends(self, widget, content: dict, buffers: list[bytes] = ()) -> list[dict]:
        """Send ``widget`` a custom message as its front end's ``model.send`` does (a widget's
        own messages, not state); return what the kernel sent back."""
        message = self.client.session.msg("comm_msg", {
            "comm_id": widget.model_id, "data": {"method": "custom", "content": content}})
        message["buffers"] = [memoryview(data) for data in buffers]
        self.sent()
        self.client.session.send(self.kernel.shell_stream, message)
        run_sync(self.kernel.dispatch_shell)(self.kernel.shell_stream.recv_multipart())
        return self.sent()

    def close(self) -> None:
        """Stop the kernel; later tests see no kernel, as before this file."""
        for cls in self.singletons:
            cls._instance = None
        type(self.kernel.shell).clear_instance()
        self.client.stop_channels()
        self.manager.shutdown_kernel()


@pytest.fixture(scope="module")
def kernel():
    running = Kernel()
    yield running
    running.close()


def descendants(widget) -> list:
    """The widget and every widget inside it: children, layouts, styles."""
    found = [widget]
    for name in widget.keys:
        value = getattr(widget, name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, ipywidgets.Widget):
                found += descendants(item)
    return found


def assert_displays(kernel: Kernel, widget, created: list[dict], still: str) -> dict:
    """As a cell's last line and through display(), ``widget`` is sent as a widget view with a
    still of mime type ``still`` beside it, and every model it holds was opened in the browser
    (else: "Error displaying widget"). Return the output's mime bundle."""
    for code in ("shown", "from IPython.display import display\ndisplay(shown)"):
        sent = kernel.run(code, shown=widget)
        assert not [m for m in sent if m["msg_type"] == "error"
                    or m["msg_type"] == "stream" and m["content"]["name"] == "stderr"], sent
        views = [m["content"]["data"] for m in sent
                 if m["msg_type"] in ("display_data", "execute_result")]
        assert len(views) == 1, f"{code!r} sent {[m['msg_type'] for m in sent]}"
        assert views[0][VIEW]["model_id"] == widget.model_id, views[0]
        assert views[0][VIEW]["version_major"] == 2
        assert set(views[0]) == {VIEW, still, "text/plain"}, list(views[0])
    opened = {m["content"]["comm_id"] for m in created if m["msg_type"] == "comm_open"}
    missing = [type(w).__name__ for w in descendants(widget) if w.model_id not in opened]
    assert not missing, f"never opened in the browser: {missing}"
    return views[0]


def still_picture(bundle: dict) -> Image.Image:
    """The PNG still of a displayed bundle (base64 text, as a notebook stores it), opened."""
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) < 150_000, len(png)  # small in the file
    return Image.open(io.BytesIO(png))


def updates(sent: list[dict]) -> dict[str, dict]:
    """The state updates the kernel sent the browser, by widget id."""
    found: dict[str, dict] = {}
    for m in sent:
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update":
            found.setdefault(m["content"]["comm_id"], {}).update(m["content"]["data"]["state"])
    return found


@pytest.fixture
def drawn(monkeypatch):
    """The pictures of each figure shown by plt.show(), as arrays, panel by panel."""
    figures: list[list[np.ndarray]] = []

    def show(*_args, **_kwargs) -> None:
        figures.append([np.asarray(ax.images[0].get_array()) for ax in plt.gcf().axes])
        plt.close("all")

    monkeypatch.setattr(plt, "show", show)
    return figures


def test_the_ipywidgets_being_tested_is_the_one_expected():
    expected = os.environ.get("CONVNET_EXPECT_IPYWIDGETS")  # tools/colab/colab_test.py: 7.7.1
    if expected:
        assert ipywidgets.__version__.startswith(expected), ipywidgets.__file__
    assert MAJOR in (7, 8)
    print(f"ipywidgets {ipywidgets.__version__} from {ipywidgets.__file__}")


# --- the kernel editor (notebook 01) -------------------------------------------------------

def test_kernel_editor_displays_and_redraws_on_every_edit(kernel, drawn):
    image = np.random.default_rng(0).integers(0, 255, (16, 16)).astype(np.float32)
    editor, created = kernel.make("kernel_editor(image)", kernel_editor=kernel_editor, image=image)
    bundle = assert_displays(kernel, editor, created, still="image/png")
    assert still_picture(bundle).size == (936, 331)  # the first figure, 13 x 4.6 inches at 72 dpi
    everything = descendants(editor)
    chooser = next(w for w in everything if isinstance(w, ipywidgets.Dropdown))
    pooling = next(w for w in everything if isinstance(w, ipywidgets.ToggleButtons))
    cells = [w for w in everything if isinstance(w, ipywidgets.FloatText)]
    assert len(cells) == 9 and chooser.value == "vertical lines"
    assert [c.value for c in cells] == np.ravel(KERNEL_PRESETS["vertical lines"]).tolist()

    drawn.clear()
    sharpen = list(KERNEL_PRESETS).index("sharpen")
    sent = kernel.browser_sets(chooser, {"index": sharpen})  # the learner picks "sharpen"
    expected = np.ravel(KERNEL_PRESETS["sharpen"]).tolist()
    assert [c.value for c in cells] == expected
    shown = updates(sent)  # the browser is told the new kernel, cell by cell
    assert [shown[c.model_id]["value"] for c in cells] == expected
    assert len(drawn) == 1  # one redraw for the new preset, not one per cell
    original, filtered, pooled = drawn[-1]
    assert np.array_equal(filtered, np.clip(filter_image(image, KERNEL_PRESETS["sharpen"]),
                                            0, 255))
    assert pooled.shape == (8, 8)

    kernel.browser_sets(cells[4], {"value": 1.0})  # the learner types 1 in the centre cell
    sharpened_less = np.array(KERNEL_PRESETS["sharpen"], dtype=np.float32)
    sharpened_less[1, 1] = 1.0
    assert np.array_equal(drawn[-1][1], np.clip(filter_image(image, sharpened_less), 0, 255))

    kernel.browser_sets(pooling, {"index": pooling.options.index("min")})
    filtered = drawn[-1][1]
    assert np.array_equal(drawn[-1][2], filtered.reshape(8, 2, 8, 2).min(axis=(1, 3)))
    assert editor.still == {"image/png": bundle["image/png"]}  # edits leave the first state


# --- the augmentation explorer (notebook 04) -----------------------------------------------

def test_augmentation_explorer_displays_and_redraws_on_every_control(kernel, drawn):
    image = torch.randint(0, 256, (3, 24, 32), dtype=torch.uint8)
    explorer, created = kernel.make("augmentation_explorer(image)",
                                    augmentation_explorer=augmentation_explorer, image=image)
    bundle = assert_displays(kernel, explorer, created, still="image/png")
    assert still_picture(bundle).size == (576, 288)  # the first figure, 8 x 4 inches at 72 dpi
    controls = {w.description: w for w in descendants(explorer)
                if isinstance(w, (ipywidgets.FloatSlider, ipywidgets.Checkbox))}
    assert np.array_equal(drawn[-1][1], image.permute(1, 2, 0).numpy())  # nothing moved yet

    kernel.browser_sets(controls["flip left-right"], {"value": True})
    assert np.array_equal(drawn[-1][1], image.flip(-1).permute(1, 2, 0).numpy())
    kernel.browser_sets(controls["rotation °"], {"value": 30.0})
    turned = drawn[-1][1]
    assert turned.shape == (24, 32, 3) and not np.array_equal(turned, drawn[-2][1])
    assert np.array_equal(drawn[-1][0], image.permute(1, 2, 0).numpy())  # the original stays
    assert explorer.still == {"image/png": bundle["image/png"]}


# --- the upload classifier (notebooks 03 and 05) -------------------------------------------

@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return HorsesHumansCNN().eval()


def photo_bytes(size: tuple[int, int] = (200, 150), fmt: str = "JPEG") -> bytes:
    """A made-up photo: a colour gradient."""
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    y = np.linspace(0, 255, size[1], dtype=np.uint8)
    pixels = np.stack([np.add.outer(y, x) // 2, np.add.outer(y, 255 - x) // 2,
                       np.full((size[1], size[0]), 90)], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def browser_uploads(kernel: Kernel, upload, files: list[tuple[str, bytes, str]]) -> list[dict]:
    """Send ``files`` (name, bytes, type) to a FileUpload as the browser does: ipywidgets 8
    sends its ``value`` (a list of files), ipywidgets 7 ``metadata``, ``data`` and a counter.
    Each file's bytes travel as a binary buffer, in place of a removed key or a None."""
    if MAJOR >= 8:
        value = [{"name": name, "type": kind, "size": len(data), "last_modified": 1.7e12}
                 for name, data, kind in files]
        return kernel.browser_sets(upload, {"value": value}, {
            ("value", i, "content"): data for i, (_, data, _) in enumerate(files)})
    metadata = [{"name": name, "type": kind, "size": len(data), "lastModified": 1.7e12}
                for name, data, kind in files]
    state = {"metadata": metadata, "data": [None] * len(files), "_counter": upload._counter + 1}
    return kernel.browser_sets(upload, state, {("data", i): data
                                               for i, (_, data, _) in enumerate(files)})


def test_upload_classifier_displays_and_answers_each_uploaded_file(kernel, model):
    """The stock FileUpload route (where anywidget is not installed)."""
    classifier, created = kernel.make(
        "PhotoClassifier(model, classes, ImageTransform(150), route='stock')",
        PhotoClassifier=PhotoClassifier,
        model=model, classes=CLASSES, ImageTransform=ImageTransform)
    bundle = assert_displays(kernel, classifier, created, still="text/html")
    assert "Upload widget: run the notebook" in bundle["text/html"]
    assert "horses, humans" in bundle["text/html"]
    assert classifier.upload.multiple and classifier.upload.accept == "image/*"

    sent = browser_uploads(kernel, classifier.upload, [
        ("horse.jpg", photo_bytes(), "image/jpeg"),
        ("notes.txt", b"shopping list: carrots", "text/plain"),
        ("big.png", photo_bytes((900, 900), "PNG"), "image/png")])
    rows = classifier.results.children
    assert [type(row) for row in rows] == [ipywidgets.HBox, ipywidgets.HTML, ipywidgets.HBox]
    chart, heat_map = (bytes(panel.value) for panel in rows[0].children)
    assert chart.startswith(b"\x89PNG") and len(chart) > 5000
    assert heat_map.startswith(b"\x89PNG") and "heat-map" in rows[0].children[1]._dom_classes
    assert "✗ notes.txt:" in rows[1].value and "not an image" in rows[1].value
    opened = {m["content"]["comm_id"] for m in sent if m["msg_type"] == "comm_open"}
    # the browser can draw each new row, its chart and its heat-map
    assert {w.model_id for row in rows for w in descendants(row)} <= opened
    assert updates(sent)[classifier.results.model_id]["children"] == [
        f"IPY_MODEL_{row.model_id}" for row in rows]

    browser_uploads(kernel, classifier.upload, [("second.png", photo_bytes(fmt="PNG"),
                                                 "image/png")])
    (row,) = classifier.results.children  # a new upload replaces the last one's answers
    assert isinstance(row, ipywidgets.HBox)


def test_empty_upload_says_what_to_do(model):
    classifier = PhotoClassifier(model, CLASSES, ImageTransform(150), route="stock")
    classifier.classify([("phone-photo.jpg", b"")])
    (row,) = classifier.results.children
    assert "arrived empty" in row.value and "smaller photo" in row.value
    assert "pip install anywidget" in row.value and "helpers.predict_image" in row.value


def test_a_failing_file_loses_nothing_and_gets_one_line(model, monkeypatch):
    from helpers import inference

    real_predict = inference.predict_image

    def predict_unless_33_pixels(model, picture, *args):
        if picture.size == (33, 33):
            raise RuntimeError("something deep in the model broke\nsecond line")
        return real_predict(model, picture, *args)

    monkeypatch.setattr(inference, "predict_image", predict_unless_33_pixels)
    classifier = PhotoClassifier(model, CLASSES, ImageTransform(150))
    classifier.classify([
        ("good.jpg", photo_bytes()),
        ("odd.png", photo_bytes((33, 33), "PNG")),
        ("cut.jpg", photo_bytes((600, 400))[:3000]),
        ("phone.HEIC", b"\x00\x00\x00\x18ftypheic" + bytes(100)),
        ("also-good.png", photo_bytes(fmt="PNG"))])
    rows = classifier.results.children
    assert [type(row) for row in rows] == [ipywidgets.HBox, ipywidgets.HTML, ipywidgets.HTML,
                                           ipywidgets.HTML, ipywidgets.HBox]
    assert "odd.png: no answer (RuntimeError: something deep in the model broke)" in rows[1].value
    assert "second line" not in rows[1].value
    assert "✗ cut.jpg: this file is damaged or truncated" in rows[2].value
    assert "✗ phone.HEIC: this file is a HEIC/HEIF photo" in rows[3].value


def test_file_names_are_shown_literally_in_charts_and_lines(model):
    classifier = PhotoClassifier(model, ["$x$ horses", "humans_$"], ImageTransform(150))
    classifier.classify([("price_$9.99_was_$12.jpg", photo_bytes()),
                         ("<b>bold</b> $\\frac{1}{0}$.txt", b"not a picture")])
    chart, line = classifier.results.children
    assert isinstance(chart, ipywidgets.HBox)
    assert bytes(chart.children[0].value).startswith(b"\x89PNG")
    assert "✗ &lt;b&gt;bold&lt;/b&gt; $\\frac{1}{0}$.txt: this file is not an image" in line.value


def test_a_non_finite_model_output_is_reported_not_drawn():
    broken = HorsesHumansCNN().eval()
    with torch.no_grad():
        broken.classifier[-1].bias.fill_(float("inf"))
        broken.classifier[-1].weight.fill_(float("-inf"))
    classifier = PhotoClassifier(broken, CLASSES, ImageTransform(150))
    classifier.classify([("horse.jpg", photo_bytes())])
    (row,) = classifier.results.children
    assert isinstance(row, ipywidgets.HTML) and "not a number" in row.value
    assert "nan%" not in row.value


def test_an_unreadable_upload_value_is_a_line_not_a_silent_failure(model):
    classifier = PhotoClassifier(model, CLASSES, ImageTransform(150), route="stock")
    classifier._on_upload({"new": 42})
    (row,) = classifier.results.children
    assert "could not be read" in row.value


def test_uploaded_files_reads_both_ipywidgets_shapes():
    v8 = ({"name": "a.png", "content": memoryview(b"abc")},)
    v7 = {"a.png": {"metadata": {"name": "a.png"}, "content": b"abc"}}
    assert uploaded_files(v8) == uploaded_files(v7) == [("a.png", b"abc")]


# --- the heat-map beside each chart (notebook 09) --------------------------------------------

def transfer_model(base: str):
    from helpers.transfer import TransferNet

    torch.manual_seed(0)
    return TransferNet(num_classes=3, hidden=32, base=base).eval()  # layers only: untrained


@pytest.mark.parametrize(("build", "classes", "size"), [
    (lambda: HorsesHumansCNN().eval(), CLASSES, 150),  # one logit: class 0 is minus the logit
    (lambda: RPSNet(num_classes=3).eval(), ["paper", "rock", "scissors"], 128),
    (lambda: transfer_model("efficientnet_lite0"), ["paper", "rock", "scissors"], 224),
    (lambda: transfer_model("inception_v3"), ["paper", "rock", "scissors"], 299),
], ids=["HorsesHumansCNN", "RPSNet", "TransferNet-lite0", "TransferNet-inception"])
def test_every_kind_of_model_gets_the_heat_map_of_its_answer(build, classes, size):
    from helpers.explain import grad_cam
    from helpers.inference import open_image

    torch.manual_seed(1)
    model, transform = build(), ImageTransform(size)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    classifier = PhotoClassifier(model, classes, transform, route="stock")
    photo = photo_bytes((320, 240))
    classifier.classify([("photo.jpg", photo)])
    (row,) = classifier.results.children
    chart, panel = row.children
    assert "heat-map" in panel._dom_classes and bytes(panel.value).startswith(b"\x89PNG")
    answer = classifier.answers["photo.jpg"][0][0]
    expected = grad_cam(model, transform(open_image(photo)), classes.index(answer))
    assert torch.equal(classifier.heat_maps["photo.jpg"], expected)  # the predicted class's map
    assert [m.training for m in model.modules()] == modes  # as predict_image leaves it: eval
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not any(len(m._forward_hooks) for m in model.modules())


def test_a_model_grad_cam_cannot_explain_still_gets_its_chart_and_one_line():
    class Brightness(torch.nn.Module):  # no convolution: Grad-CAM has nothing to look into
        def forward(self, pixels):
            return pixels.mean(dim=(1, 2, 3))[:, None]

    classifier = PhotoClassifier(Brightness(), CLASSES, ImageTransform(150))
    classifier.classify([("bright.jpg", photo_bytes())])
    (row,) = classifier.results.children
    chart, line = row.children
    assert isinstance(row, ipywidgets.VBox) and bytes(chart.value).startswith(b"\x89PNG")
    assert ("✗ bright.jpg: no heat-map (ValueError: Brightness has no convolutional layer "
            "(nn.Conv2d)") in line.value
    assert list(classifier.answers) == ["bright.jpg"] and classifier.heat_maps == {}


def test_a_heat_map_that_fails_to_draw_keeps_the_chart(model, monkeypatch):
    from helpers import plots

    def broken(*_args, **_kwargs):
        raise RuntimeError("the drawing failed\nsecond line")

    monkeypatch.setattr(plots, "heat_map_png", broken)
    classifier = PhotoClassifier(model, CLASSES, ImageTransform(150))
    classifier.classify([("horse.jpg", photo_bytes())])
    (row,) = classifier.results.children
    assert bytes(row.children[0].value).startswith(b"\x89PNG")
    assert "no heat-map (RuntimeError: the drawing failed)" in row.children[1].value



# --- the routes for photos of any size: shrunk in the browser, Colab's uploader -------------

def jpeg_of(size: tuple[int, int]) -> bytes:
    """What PhotoUpload's front end sends for a big photo: a JPEG at most 1024 px long."""
    return photo_bytes(size, "JPEG")


def photo_message(batch: str, index: int, count: int, name: str, data: bytes, kind: str,
                  size: int | None = None, **extra) -> tuple[dict, list[bytes]]:
    """A message as PhotoUpload's front end sends it: a description and the bytes as a buffer."""
    content = {"batch": batch, "index": index, "count": count, "name": name,
               "size": len(data) if size is None else size, "kind": kind,
               "bytes": len(data), **extra}
    return content, [data] if data else []


def no_bytes_in(state: dict) -> bool:
    """True when a widget state holds no binary data (nothing uploaded could be saved in it)."""
    return not any(isinstance(value, (bytes, bytearray, memoryview)) for value in state.values())


def test_the_route_follows_where_the_notebook_runs(monkeypatch, colab):
    from helpers import upload

    assert upload.upload_route() == "colab"  # the stand-in google.colab is imported
    monkeypatch.delitem(sys.modules, "google.colab")
    assert upload.upload_route() == "browser"  # anywidget is installed (requirements.txt)
    monkeypatch.setattr(upload, "anywidget", None)
    assert upload.upload_route() == "stock"
    with pytest.raises(ValueError, match="route must be"):
        PhotoClassifier(None, CLASSES, ImageTransform(150), route="email")


def test_photos_shrunk_in_the_browser_are_classified_and_never_kept(kernel, model):
    from helpers.upload import KEEP_BYTES, MAX_SIDE, PhotoUpload

    classifier, created = kernel.make(
        "PhotoClassifier(model, classes, ImageTransform(150))", PhotoClassifier=PhotoClassifier,
        model=model, classes=CLASSES, ImageTransform=ImageTransform)
    assert classifier.route == "browser" and isinstance(classifier.upload, PhotoUpload)
    bundle = assert_displays(kernel, classifier, created, still="text/html")
    assert "Upload widget: run the notebook" in bundle["text/html"]
    state = classifier.upload.get_state()
    assert state["max_side"] == MAX_SIDE and state["keep_bytes"] == KEEP_BYTES
    assert "createImageBitmap" in state["_esm"] and "from-image" in state["_esm"]

    shrunk = jpeg_of((1024, 768))  # what the browser made of a 12 MB, 4000 x 3000 photo
    first = photo_message("b1", 0, 3, "IMG_0001.jpg", shrunk, "shrunk", size=12_400_000,
                          width=1024, height=768)
    sent = kernel.browser_sends(classifier.upload, *first)
    assert classifier.results.children == ()  # nothing yet: two more files are on their way
    kernel.browser_sends(classifier.upload, *photo_message(
        "b1", 1, 3, "notes.txt", b"shopping list: carrots", "original"))
    sent += kernel.browser_sends(classifier.upload, *photo_message(
        "b1", 2, 3, "IMG_0002.HEIC", b"", "unreadable", size=9_000_000,
        reason="The source image cannot be decoded."))
    rows = classifier.results.children
    assert [type(row) for row in rows] == [ipywidgets.HBox, ipywidgets.HTML, ipywidgets.HTML]
    assert bytes(rows[0].children[0].value).startswith(b"\x89PNG")
    assert "✗ notes.txt: this file is not an image" in rows[1].value
    assert "✗ IMG_0002.HEIC: the browser could not read it" in rows[2].value
    assert "9.0 MB" in rows[2].value and "helpers.predict_image" in rows[2].value
    assert list(classifier.answers) == ["IMG_0001.jpg"]
    assert classifier.answers["IMG_0001.jpg"][0][0] in CLASSES
    assert [(r["name"], r["received"], r["size"]) for r in classifier.upload.received] == [
        ("IMG_0001.jpg", len(shrunk), 12_400_000), ("notes.txt", 22, 22),
        ("IMG_0002.HEIC", 0, 9_000_000)]
    # Nothing uploaded is in any state the kernel sent (what a saved notebook could keep).
    for message in sent:
        if message["msg_type"] in ("comm_open", "comm_msg"):
            assert no_bytes_in(message["content"]["data"].get("state", {}))
            assert all(bytes(b) != shrunk for b in message.get("buffers", []))
    assert no_bytes_in(classifier.upload.get_state())

    kernel.browser_sends(classifier.upload, *photo_message(  # a new choice replaces the last
        "b2", 0, 2, "cut.jpg", shrunk[:3000], "shrunk", size=6_000_000, bytes=len(shrunk)))
    kernel.browser_sends(classifier.upload, *photo_message("b2", 1, 2, "empty.jpg", b"",
                                                           "original"))
    cut, empty = classifier.results.children
    assert f"✗ cut.jpg: the upload was cut: 3,000 of {len(shrunk):,} bytes arrived" in cut.value
    assert "✗ empty.jpg: the file is empty (0 bytes)" in empty.value
    assert classifier.answers == {}


def test_photos_sent_as_they_are_give_the_same_answer_as_predict_image(model):
    from helpers.inference import predict_image

    classifier = PhotoClassifier(model, CLASSES, ImageTransform(150))
    photo = photo_bytes((640, 480))
    classifier.upload._on_message(None, *photo_message("b", 0, 1, "small.jpg", photo,
                                                       "original"))
    assert classifier.answers["small.jpg"] == predict_image(model, photo, CLASSES,
                                                            ImageTransform(150))


# A stand-in for google.colab that behaves as Colab documents files.upload(): it shows a file
# chooser in the cell's output (HTML), blocks until the files are chosen, saves each in the
# current folder (printing "Saving name to name") and returns {name: bytes}; {} when cancelled.

class StandInColab:
    def __init__(self) -> None:
        import types

        self.chosen: list[dict[str, bytes]] = []  # what the learner picks, upload by upload
        self.calls, self.widget_manager_enabled = 0, False
        self.modules = {name: types.ModuleType(name) for name in (
            "google", "google.colab", "google.colab.files", "google.colab.output")}
        self.modules["google"].colab = self.modules["google.colab"]
        self.modules["google.colab"].files = self.modules["google.colab.files"]
        self.modules["google.colab"].output = self.modules["google.colab.output"]
        self.modules["google.colab.files"].upload = self.upload
        self.modules["google.colab.output"].enable_custom_widget_manager = self.enable

    def enable(self) -> None:
        self.widget_manager_enabled = True

    def upload(self) -> dict[str, bytes]:
        from IPython.display import HTML, display

        self.calls += 1
        display(HTML('<input type="file" name="files[]" multiple disabled />'
                     '<output>Upload widget is only available when the cell has been executed '
                     'in the current browser session.</output>'))
        files = self.chosen.pop(0) if self.chosen else {}
        for name, data in files.items():
            print(f"Saving {name} to {name}")
            with open(name, "ab") as saved:
                saved.write(data)
        return dict(files)


@pytest.fixture
def colab(monkeypatch, tmp_path):
    stand_in = StandInColab()
    for name, module in stand_in.modules.items():
        if name != "google" or name not in sys.modules:
            monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.chdir(tmp_path)  # where Colab's uploader saves its copies (/content on Colab)
    return stand_in


def test_on_colab_photos_come_through_colabs_own_uploader(kernel, model, colab, tmp_path):
    from helpers.inference import predict_image

    big = photo_bytes((3000, 2000))  # far past the ~1 MB the stock button drops on Colab
    colab.chosen = [{"IMG_0003.jpg": big, "notes.txt": b"not a photo"}]
    classifier, created = kernel.make(
        "PhotoClassifier(model, classes, ImageTransform(150))", PhotoClassifier=PhotoClassifier,
        model=model, classes=CLASSES, ImageTransform=ImageTransform)
    assert classifier.route == "colab" and colab.calls == 1
    outputs = [m for m in created if m["msg_type"] in ("display_data", "stream")]
    assert "input type=\"file\"" in outputs[0]["content"]["data"]["text/html"]  # Colab's chooser
    chart, line = classifier.results.children
    assert isinstance(chart, ipywidgets.HBox) and "✗ notes.txt: this file is not an image" in (
        line.value)
    assert classifier.answers["IMG_0003.jpg"] == predict_image(model, big, CLASSES,
                                                               ImageTransform(150))
    bundle = assert_displays(kernel, classifier, created, still="text/html")
    assert "Upload widget: run the notebook" in bundle["text/html"]
    assert not colab.widget_manager_enabled  # stock widgets only: Colab draws them as they are
    for message in created:  # no uploaded bytes in any output or widget state
        assert base64.b64encode(big[:300])[:400].decode() not in str(message["content"])
        assert all(bytes(b) != big for b in message.get("buffers", []))
        if message["msg_type"] in ("comm_open", "comm_msg"):
            assert no_bytes_in(message["content"]["data"].get("state", {}))
    assert (tmp_path / "IMG_0003.jpg").read_bytes() == big  # Colab's own copy, as documented

    colab.chosen = [{"empty.jpg": b""}]
    classifier.classify_from_colab()  # more photos, from a later cell
    (empty,) = classifier.results.children
    assert "✗ empty.jpg: the upload arrived empty (0 bytes)" in empty.value
    assert "choose it again" in empty.value and "helpers.predict_image" in empty.value
    classifier.classify_from_colab()  # the learner cancels
    (cancelled,) = classifier.results.children
    assert "none was chosen" in cancelled.value and "Run this cell again" in cancelled.value
    assert colab.calls == 3
