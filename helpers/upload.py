"""Getting a learner's photos into the kernel, whatever their size: the routes of the upload widget.

A phone photo is 3-12 MB; the stock ``FileUpload`` drops files from about 1 MB on Colab
(ipywidgets 7.7.1) and above about 10 MB in JupyterLab (the websocket's message limit). So:

- ``PhotoUpload`` (JupyterLab, Notebook 7, VS Code: anywhere anywidget's front end loads) decodes
  each photo in the browser, upright as its EXIF says, draws it at most ``MAX_SIDE`` pixels on
  its long side and sends that as a JPEG (a few hundred KB) in a message, never in the widget's
  saved state. A file of at most ``KEEP_BYTES`` is sent as it is; one the browser cannot decode
  (a text file, HEIC in Chrome) too, if small enough, so the kernel can say what it is.
- On Colab, ``colab_upload`` uses Colab's own uploader, ``google.colab.files.upload()``, which
  sends files in chunks; it must run from a cell and waits until the learner has chosen.
- Elsewhere the stock ``FileUpload`` (``helpers.widgets``).
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import traitlets

try:
    import anywidget
except ImportError:  # the stock FileUpload is used instead (upload_route)
    anywidget = None

MAX_SIDE = 1024  # pixels on the long side of the JPEG the browser sends
KEEP_BYTES = 1_000_000  # files this small are sent as they are
MAX_ORIGINAL = 8_000_000  # a file the browser cannot decode is sent as it is up to this size


def upload_route() -> str:
    """"colab" on Colab, "browser" where anywidget is installed, else "stock"."""
    if "google.colab" in sys.modules:  # Colab's kernel imports it at start
        return "colab"
    return "browser" if anywidget is not None else "stock"


def colab_upload() -> list[tuple[str, bytes]]:
    """Colab's own uploader: shows a file chooser in the cell's output, waits for the learner,
    returns [(name, bytes)] ([] when cancelled). Colab also keeps a copy of each file in the
    runtime's current folder (it prints "Saving ..."), not in the notebook."""
    from google.colab import files

    return [(str(name), bytes(data)) for name, data in files.upload().items()]


ESM = """
async function decode(file) {  // upright per EXIF: createImageBitmap's option, or an <img>
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.src = url;
    try { await img.decode(); return img; } finally { URL.revokeObjectURL(url); }
  }
}

async function shrink(file, maxSide) {  // a JPEG at most maxSide pixels on its long side
  const picture = await decode(file);
  const [w, h] = [picture.naturalWidth || picture.width, picture.naturalHeight || picture.height];
  const scale = Math.min(1, maxSide / Math.max(w, h));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(w * scale));
  canvas.height = Math.max(1, Math.round(h * scale));
  const context = canvas.getContext("2d");
  context.fillStyle = "white";  // a transparent PNG on white, as the kernel does it
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.9));
  if (!blob) throw new Error("the canvas made no JPEG");
  return { blob, width: canvas.width, height: canvas.height };
}

async function send(model, file, head) {
  const whole = async () => ({ ...head, kind: "original", buffer: await file.arrayBuffer() });
  let message;
  if (file.size <= model.get("keep_bytes")) {
    message = await whole();
  } else {
    try {
      const { blob, width, height } = await shrink(file, model.get("max_side"));
      message = { ...head, kind: "shrunk", width, height, buffer: await blob.arrayBuffer() };
    } catch (error) {
      if (file.size > model.get("max_original")) {
        message = { ...head, kind: "unreadable", reason: String(error.message || error) };
      } else {
        message = await whole();
      }
    }
  }
  const { buffer, ...content } = message;
  content.bytes = buffer ? buffer.byteLength : 0;
  model.send(content, undefined, buffer ? [buffer] : []);
}

function render({ model, el }) {
  const input = Object.assign(document.createElement("input"),
    { type: "file", accept: "image/*", multiple: true, hidden: true });
  const button = Object.assign(document.createElement("button"),
    { className: "jupyter-widgets jupyter-button widget-button widget-upload",
      textContent: model.get("description") });
  const status = document.createElement("span");
  status.style.marginLeft = "0.5em";
  button.onclick = () => input.click();
  input.onchange = async () => {
    const files = [...input.files];
    input.value = "";  // the same file can be chosen again
    button.disabled = true;
    const batch = `${Date.now()}-${Math.random()}`;
    for (const [index, file] of files.entries()) {
      status.textContent = `preparing ${file.name} (${index + 1} of ${files.length})…`;
      await send(model, file, { batch, index, count: files.length, name: file.name,
                                size: file.size });
    }
    status.textContent = "";
    button.disabled = false;
  };
  el.append(button, input, status);
}
export default { render };
"""

if anywidget is not None:
    class PhotoUpload(anywidget.AnyWidget):
        """A button that sends the chosen photos, shrunk in the browser, to ``on_files``.

        ``on_files`` gets [(name, bytes or str)] once every file of a choice has arrived: a str
        says why that file gave no bytes. ``received`` describes the last choice's files (their
        size, what was sent); the widget's state holds no photo.
        """

        _esm = ESM
        description = traitlets.Unicode("Upload photos").tag(sync=True)
        max_side = traitlets.Int(MAX_SIDE).tag(sync=True)
        keep_bytes = traitlets.Int(KEEP_BYTES).tag(sync=True)
        max_original = traitlets.Int(MAX_ORIGINAL).tag(sync=True)

        def __init__(self, on_files: Callable[[list[tuple[str, bytes | str]]], None],
                     **kwargs) -> None:
            super().__init__(**kwargs)
            self.on_files, self.received = on_files, []
            self._batch, self._files = None, {}
            self.on_msg(self._on_message)

        def _on_message(self, _widget, content: dict, buffers: list) -> None:
            if content.get("batch") != self._batch:  # a new choice of files
                self._batch, self._files, self.received = content.get("batch"), {}, []
            data = b"".join(bytes(buffer) for buffer in buffers or [])
            name = str(content.get("name", "a file"))
            self._files[content.get("index", 0)] = (name, _problem(content, data) or data)
            self.received.append({key: content.get(key) for key in (
                "name", "size", "kind", "width", "height")} | {"received": len(data)})
            if len(self._files) >= content.get("count", 1):
                files = [self._files[index] for index in sorted(self._files)]
                self._files = {}
                self.on_files(files)


def _problem(content: dict, data: bytes) -> str | None:
    """Why a file's message carries no usable bytes (None when it does)."""
    size = content.get("size") or 0
    if content.get("kind") == "unreadable":
        return (f"the browser could not read it as a picture ({content.get('reason')}), and at "
                f"{size / 1e6:.1f} MB it is too large to send as it is. Save it as JPEG, or "
                f"save it beside the notebook and pass its path to helpers.predict_image.")
    if content.get("kind") == "original" and size == 0:
        return "the file is empty (0 bytes). Choose the file again, or another."
    expected = size if content.get("kind") == "original" else content.get("bytes", len(data))
    if len(data) != expected:
        return (f"the upload was cut: {len(data):,} of {expected:,} bytes arrived. Choose it "
                f"again; if that fails too, save it beside the notebook and pass its path to "
                f"helpers.predict_image.")
    return None
