"""Execute notebooks in place (the full lesson unless CONVNET_QUICK is set) and save them clean.

Usage: python tools/execute_notebooks.py notebooks/01_*.ipynb [--timeout 3600]

Saved notebooks keep their outputs (readers on GitHub see results) but never the widget state,
which can hold a user's uploaded photo. The kernel is the plain "python3" one.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
# Machine paths that outputs pick up: the home folder, and the temporary file name a warning
# gives for the cell it came from.
MACHINE_PATHS = [(re.escape(str(Path.home())), "~"), (r"/tmp/ipykernel_\d+/\d+\.py", "<cell>")]


def _without_machine_paths(text: str) -> str:
    for pattern, replacement in MACHINE_PATHS:
        text = re.sub(pattern, replacement, text)
    return text


def clean(notebook: nbformat.NotebookNode) -> None:
    """Drop widget state and per-run metadata; keep outputs."""
    notebook.metadata.pop("widgets", None)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = KERNELSPEC
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
            if "text" in output:  # stdout and stderr streams
                output["text"] = _without_machine_paths(output["text"])


def execute(path: Path, timeout: int) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
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
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()
    for path in args.notebooks:
        print(f"{path}: executed in {execute(path, args.timeout):.0f} s", flush=True)
