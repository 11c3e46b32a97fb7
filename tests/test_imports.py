"""The helpers modules import each other one way only: no circle, even through imports made
inside functions; the public names stay where notebooks import them from."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
MODULES = sorted(path.stem for path in HELPERS.glob("*.py") if path.stem != "__init__")


def helpers_imports(module: str) -> set[str]:
    """The helpers modules that ``module`` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse((HELPERS / f"{module}.py").read_text())):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found |= {name.split(".")[1] for name in names if name.startswith("helpers.")}
    return found - {module}


def test_the_helpers_modules_import_each_other_one_way():
    graph = {module: helpers_imports(module) for module in MODULES}
    assert graph["preprocess"] == set() and graph["models"] == set()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"helpers imports in a circle: {' -> '.join(error.args[1])}")
    assert order.index("preprocess") < order.index("transfer") < order.index("saving")


def test_the_public_names_stay_where_the_notebooks_find_them():
    import helpers
    import helpers.inference as inference

    for name in ("ImageTransform", "save_model", "load_model", "model_path", "predict_image",
                 "ImageError"):
        assert getattr(helpers, name) is getattr(inference, name)
    assert inference.open_image is helpers.preprocess.open_image


def test_each_module_is_short_and_says_what_it_is_for():
    """A learner reads any helper in a couple of minutes: about 250 lines at most, and the
    first lines (the module's docstring) say what it holds."""
    for module in MODULES:
        source = (HELPERS / f"{module}.py").read_text()
        assert len(source.splitlines()) <= 250, f"helpers/{module}.py is over 250 lines"
        docstring = ast.get_docstring(ast.parse(source))
        assert docstring and len(docstring) > 40, f"helpers/{module}.py does not say what it is for"
