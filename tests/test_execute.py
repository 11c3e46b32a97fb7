"""tools/execute_notebooks.py on a tiny notebook run in a real kernel (as the saved runs are):
fit's progress bars and live plot are shown while it runs, and the saved file keeps none of
them (nor text bars or emptied outputs), while every real output stays, widgets as stills."""

from __future__ import annotations

import base64
import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
VIEW = "application/vnd.jupyter.widget-view+json"

CELLS = [
    # 0: fit for 2 epochs on 24 made-up 8x8 images, held in memory
    """import torch
from torch import nn
import helpers
torch.manual_seed(0)
data = helpers.ImageSet(torch.randint(0, 256, (24, 1, 8, 8), dtype=torch.uint8),
                        torch.arange(24) % 2, ["a", "b"])
loader = helpers.InMemoryLoader(data, batch_size=8)
history = helpers.fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), loader, loader, epochs=2)""",
    # 1: text progress bars on stderr (tqdm's own, not the notebook one), and a real warning
    """import warnings
from tqdm.std import tqdm
for _ in tqdm(range(3), leave=False):
    pass
warnings.warn("a real warning stays")
for _ in tqdm(range(3), desc="kept bar"):  # leave=True: its last state stays on the line
    pass""",
    # 2: nothing but a text progress bar
    """for _ in tqdm(range(3), leave=False):
    pass""",
    # 3: a widget as the cell's last line
    """import numpy as np
from helpers.explorers import kernel_editor
kernel_editor(np.eye(16, dtype=np.float32) * 255)""",
    # 4: a figure and a line about the History: real outputs
    """import matplotlib.pyplot as plt
plt.plot(history.val_loss)
plt.show()
print(len(history), "epochs")""",
]


def load_tool():
    spec = importlib.util.spec_from_file_location("execute_notebooks",
                                                  REPO / "tools" / "execute_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


class Recording(NotebookClient):
    """A NotebookClient that keeps every message the kernel sends while a cell runs."""

    messages: list[dict] = []

    def process_message(self, msg, cell, cell_index):
        Recording.messages.append({**msg, "cell": cell_index})
        return super().process_message(msg, cell, cell_index)


@pytest.mark.slow
def test_saved_notebook_keeps_real_outputs_and_nothing_that_only_shows_while_running(
        tmp_path, monkeypatch):
    # The kernel imports this checkout's helpers, and draws figures inline as in the tool's runs.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS]),
                   path)
    Recording.messages = []
    load_tool().execute(path, timeout=120, client_class=Recording)

    # While it ran: one bar per epoch, closed when its epoch ended ...
    sent = Recording.messages
    bars = [m["content"]["data"][VIEW]["model_id"] for m in sent
            if m["msg_type"] == "display_data" and m["cell"] == 0 and VIEW in m["content"]["data"]]
    closed = {m["content"]["comm_id"] for m in sent if m["msg_type"] == "comm_close"}
    assert len(bars) == 2 and set(bars) <= closed
    # ... and one live plot: an empty place, a picture after each epoch, emptied at the end.
    (place,) = [m for m in sent if m["msg_type"] == "display_data" and m["cell"] == 0
                and not m["content"]["data"]]
    plot_id = place["content"]["transient"]["display_id"]
    updates = [m["content"]["data"] for m in sent if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == plot_id]
    assert [sorted(u) for u in updates] == [["image/png", "text/plain"]] * 2 + [[]]
    live_pictures = [u["image/png"] for u in updates[:2]]
    assert live_pictures[0] != live_pictures[1]
    assert base64.b64decode(live_pictures[1]).startswith(b"\x89PNG")

    # Saved: the per-epoch lines as one stream, the warning, the widget's still, the figure.
    saved = nbformat.read(path, as_version=4)
    outputs = [cell.outputs for cell in saved.cells]
    (lines,) = outputs[0]
    assert lines.output_type == "stream" and lines.name == "stdout"
    assert [line[:11] for line in lines.text.splitlines()] == ["epoch  1/2 ", "epoch  2/2 "]
    (warning,) = outputs[1]
    assert warning.name == "stderr" and "UserWarning: a real warning stays" in warning.text
    assert not any(bar in warning.text for bar in ("\r", "kept bar", "it/s"))
    assert outputs[2] == []
    (widget,) = outputs[3]
    assert set(widget.data) == {"image/png", "text/plain"}  # the still; no widget view
    figure, count = outputs[4]
    assert "image/png" in figure.data and count.text == "2 epochs\n"

    everything = nbformat.writes(saved)
    for noise in (VIEW, "HBox(children=(HTML(", "FloatProgress", "batch/s", *live_pictures):
        assert noise not in everything
    for output in (o for cell_outputs in outputs for o in cell_outputs):
        assert output.get("data", True) and output.get("text", True)  # nothing left empty
    assert "widgets" not in saved.metadata
