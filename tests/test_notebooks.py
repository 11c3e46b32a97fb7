"""The notebooks as files: the shape every lesson follows, links that resolve, Colab badges and
install lines built from the repository named in pyproject.toml, and nothing private or broken
saved in them. (nbval executes them.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own TOML reader
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
REPOSITORY = PROJECT["tool"]["convnet-lab"]["repository"]  # owner/name on GitHub
COLAB = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/"
INSTALL = f"git+https://github.com/{REPOSITORY}"


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
            assert output.get("name") != "stderr", (
                f"{path.name} was saved with warnings or progress bars on stderr: "
                f"{''.join(output.get('text', ''))[:200]}")
            plain = "".join(output.get("data", {}).get("text/plain", ""))
            if "children=(" in plain:  # a widget: GitHub must see its still, not its repr
                assert {"image/png", "text/html"} & set(output["data"]), (
                    f"{path.name} saved a widget without a still: {plain[:80]}")
            saved = json.dumps(output)
            for machine_path in ("/work/", "/root/", "/home/", "/tmp/", str(Path.home())):
                assert machine_path not in saved, f"{path.name}: machine path {machine_path}"


def test_readme_has_a_colab_badge_for_every_notebook_and_no_dead_ones():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    badges = set(re.findall(re.escape(COLAB) + r"([\w/.-]+\.ipynb)", readme))
    assert badges == {f"notebooks/{path.name}" for path in NOTEBOOKS}


def test_the_repository_setting_names_one_github_repository():
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", REPOSITORY), REPOSITORY


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_install_lines_and_links_name_the_repository_setting(path):
    cells = load(path)["cells"]
    setup = text_of(cells[1])
    if "%pip" in setup:  # on Colab, the helpers come from this repository and no other
        installs = re.findall(r"git\+https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?(?=[@\"' ]|$)",
                              setup, re.MULTILINE)
        assert installs == [REPOSITORY], f"{path.name} installs from {installs}, not {INSTALL}"
    everything = "\n".join(text_of(cell) for cell in cells)
    for slug in re.findall(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/", everything):
        assert slug == REPOSITORY, f"{path.name} has a Colab link to {slug}, not {REPOSITORY}"
    for slug in re.findall(r"git\+https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?(?=[@\"' ]|$)",
                           everything, re.MULTILINE):
        assert slug == REPOSITORY, f"{path.name} installs from {slug}, not {REPOSITORY}"


def test_readme_links_no_other_copy_of_the_repository():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for slug in re.findall(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/", readme):
        assert slug == REPOSITORY, f"README has a Colab link to {slug}, not {REPOSITORY}"


WIDGET_PACKAGES = r"ipywidgets|widgetsnbextension|jupyterlab[-_]widgets"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_installs_or_upgrades_ipywidgets(path):
    """Colab ships its own ipywidgets (7.7.1 for years); replacing it breaks its widgets."""
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        for line in text_of(cell).splitlines():
            if re.search(r"\b(pip|conda|mamba|uv)\b", line):
                assert not re.search(WIDGET_PACKAGES, line, re.IGNORECASE), (
                    f"{path.name} installs widget packages: {line.strip()}")
                assert not re.search(r"\s-r\s|requirements", line), (
                    f"{path.name} installs a requirements file (it may pin ipywidgets): {line}")


def test_installing_the_helpers_keeps_colabs_ipywidgets():
    """pip keeps an installed ipywidgets that meets the package's requirement: 7.7.1 must."""
    (spec,) = [Requirement(d) for d in PROJECT["project"]["dependencies"]
               if Requirement(d).name == "ipywidgets"]
    assert spec.specifier.contains("7.7.1") and spec.specifier.contains("8.1.5"), spec
    from importlib.metadata import requires  # anywidget, the upload button, must keep it too

    (spec,) = [r for r in map(Requirement, requires("anywidget")) if r.name == "ipywidgets"]
    assert spec.specifier.contains("7.7.1"), spec


LONGEST_CELL = 15  # lines: "about 15", import lists included (split them or import less)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_short(path):
    for number, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            lines = text_of(cell).strip().splitlines()
            assert len(lines) <= LONGEST_CELL, (
                f"{path.name}, cell {number}: {len(lines)} lines; split it or move code to helpers")
