"""Execute notebooks in place (the full lesson unless CONVNET_QUICK is set) and save them clean.

Usage: python tools/execute_notebooks.py notebooks/01_*.ipynb [--timeout 1800] [--quiet]

Saved notebooks keep their outputs (readers on GitHub see results) but never the widget state,
which can hold a user's uploaded photo, nor what only shows while a notebook runs: progress
bars, and the outputs a live display leaves empty when it is done. A widget keeps its still
(helpers.widgets), which GitHub shows in its place. The kernel is the plain "python3" one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
# Machine paths that outputs pick up: the home folder, and the temporary file name a warning
# gives for the cell it came from.
MACHINE_PATHS = [(re.escape(str(Path.home())), "~"), (r"/tmp/ipykernel_\d+/\d+\.py", "<cell>")]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The end of a text progress bar (tqdm's, on stderr where widgets are missing): its times and
# rate, as in "epoch 1/3:  40%|████      | 2/5 [00:01<00:02,  1.9batch/s]".
TEXT_BAR = re.compile(r"\[(\d+:)?\d+:\d\d(<[\d:?]+)?, [^\]]*(/s|s/\w+)\]$")


def _without_machine_paths(text: str) -> str:
    for pattern, replacement in MACHINE_PATHS:
        text = re.sub(pattern, replacement, text)
    return text


def _without_text_bars(text: str) -> str:
    """``text`` less its text progress bars, and less lines that a terminal would show blank
    (each "\\r" starts the line over: a bar that disappears overwrites itself with spaces)."""
    kept = []
    for line in re.findall(r"[^\n]*\n|[^\n]+$", text):  # each line keeps its newline
        parts = line.rstrip("\n").split("\r")
        shown = next((part for part in reversed(parts) if part), "")
        if TEXT_BAR.search(shown.strip()) or (len(parts) > 1 and not shown.strip()):
            continue
        kept.append(line if len(parts) == 1 else shown + "\n" * line.endswith("\n"))
    return "".join(kept)


def _clean_output(output: nbformat.NotebookNode) -> bool:
    """Clean one output in place; return False when nothing worth saving is left of it.

    Nothing is left of a widget with no still (a progress bar: GitHub would show its text,
    "HBox(children=..." or the bar's first state), of a display emptied when it was done
    (fit's live plot), of text progress bars, or of an empty stream.
    """
    if "data" in output:  # display_data and execute_result
        widget = output.data.pop(WIDGET_VIEW, None) is not None
        return bool(output.data) and not (widget and set(output.data) == {"text/plain"})
    if "text" in output:  # stdout and stderr streams
        text = _without_machine_paths(output.text)
        output.text = _without_text_bars(text) if output.name == "stderr" else text
        return bool(output.text.strip("\r\n"))
    return True


def _join_streams(outputs: list) -> list:
    """Merge each run of outputs to one stream into one output (dropped bars split fit's lines)."""
    joined = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (output.output_type == "stream" and previous is not None
                and previous.output_type == "stream" and previous.name == output.name):
            previous.text += output.text
        else:
            joined.append(output)
    return joined


def clean(notebook: nbformat.NotebookNode) -> None:
    """Drop widget state, per-run metadata and run-time-only outputs; keep every real output."""
    notebook.metadata.pop("widgets", None)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = KERNELSPEC
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if "outputs" in cell:
            cell.outputs = _join_streams([o for o in cell.outputs if _clean_output(o)])


def execute(path: Path, timeout: int,
            client_class: type[NotebookClient] = NotebookClient, log: bool = False) -> float:
    """Execute the notebook at ``path``, clean it and save it; return the seconds it took.

    ``client_class`` can be a NotebookClient subclass that watches the kernel's messages (a
    test does, to see the live displays that clean() removes). ``log`` prints each code cell's
    time as it finishes (to stderr), so a long or stuck run shows where it is.
    """
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    last = [start]

    def cell_done(cell, cell_index, execute_reply) -> None:
        now = time.perf_counter()
        if cell.cell_type == "code":
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            print(f"  {path.name} cell {cell_index}: {now - last[0]:.1f} s  {first}",
                  file=sys.stderr, flush=True)
        last[0] = now

    client = client_class(notebook, timeout=timeout, kernel_name="python3",
                          resources={"metadata": {"path": str(path.parent)}},
                          on_cell_executed=cell_done if log else None,
                          store_widget_state=True)  # Output widgets need it; clean() drops it
    client.execute()
    clean(notebook)
    nbformat.write(notebook, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    # A non-interactive MPLBACKEND (CI sets Agg) would reach the kernel and replace the inline
    # backend: every plt.show() would then draw nothing into the saved notebook.
    os.environ.pop("MPLBACKEND", None)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--quiet", action="store_true", help="do not print each cell's time")
    args = parser.parse_args()
    for path in args.notebooks:
        seconds = execute(path, args.timeout, log=not args.quiet)
        print(f"{path}: executed in {seconds:.0f} s", flush=True)
