"""The notebooks as files: the shape every lesson follows, links that resolve, Colab badges built
from the real paths, and nothing private or broken saved in them. (nbval executes them.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COLAB = "https://colab.research.google.com/github/convnet-lab/convnet-lab/blob/main/"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text_of(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def test_notebooks_are_numbered_in_order():
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_lesson_skeleton(path):
    cells = load(path)["cells"]
    title = text_of(cells[0])
    assert cells[0]["cell_type"] == "markdown"
    assert title.startswith(f"# {path.name[:2]} · ")
    assert "You will learn" in title
    markdown = "\n".join(text_of(c) for c in cells if c["cell_type"] == "markdown")
    for heading in ("## Summary", "## Check your understanding", "## Further reading"):
        assert heading in markdown, f"{path.name} lacks {heading!r}"
    setup = text_of(cells[1])
    if "%pip" in setup:  # installs only on Colab, never elsewhere
        assert '"google.colab" in sys.modules' in setup


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_previous_and_next_links_resolve(path):
    last = text_of(load(path)["cells"][-1])
    number = int(path.name[:2])
    links = re.findall(r"\]\((\d\d_[\w-]+\.ipynb)\)", last)
    for link in links:
        assert (path.parent / link).exists(), f"{path.name} links to missing {link}"
    linked = {int(link[:2]) for link in links}
    if number > 1:
        assert number - 1 in linked, f"{path.name} has no link to the previous notebook"
    if any(p.name.startswith(f"{number + 1:02d}_") for p in NOTEBOOKS):
        assert number + 1 in linked, f"{path.name} has no link to the next notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_notebook_is_clean(path):
    notebook = load(path)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in notebook["metadata"], "saved widget state can hold uploaded photos"
    for cell in notebook["cells"]:
        if cell.get("outputs"):
            # nbval refuses a cell that has outputs but no execution count ("unrun reference cell").
            assert cell.get("execution_count"), f"{path.name}: a cell has outputs but was never run"
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name} was saved with an error"
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {})
            saved = json.dumps(output)
            for machine_path in ("/work/", "/root/", "/home/", "/tmp/", str(Path.home())):
                assert machine_path not in saved, f"{path.name}: machine path {machine_path}"


def test_readme_has_a_colab_badge_for_every_notebook_and_no_dead_ones():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    badges = set(re.findall(re.escape(COLAB) + r"([\w/.-]+\.ipynb)", readme))
    assert badges == {f"notebooks/{path.name}" for path in NOTEBOOKS}
