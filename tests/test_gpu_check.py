"""tools/gpu_check.py, here on the CPU: its first line says there is no GPU, it runs a notebook
and writes its table; with a T4 pretended, its header names the capability and the fp16 scaler."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import helpers

pytestmark = pytest.mark.slow  # runs a notebook and a benchmark: the slow tier

REPO = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "tools" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_on_the_cpu_it_says_so_first_and_still_writes_the_table(tmp_path, real_data):
    real_data("ascent")  # notebook 01 convolves it
    done = subprocess.run(
        [sys.executable, "tools/gpu_check.py", "--notebooks", "01", "--benchmarks",
         "--skip-full", "--timeout", "300", "--out", str(tmp_path)], cwd=REPO,
        capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].startswith("No GPU found")
    cpu = helpers.choose_precision("cpu").name  # fp32, or bf16 on a CPU with native bf16
    assert f"precision {cpu}" in done.stdout and "scaler off" in done.stdout
    table = (tmp_path / "gpu_check.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| 01 QUICK |"))
    seconds = float(row.split("|")[2])
    assert seconds > 0 and row.split("|")[3].strip() == ""  # no GPU: no peak memory


def test_with_a_t4_pretended_the_header_names_fp16_and_the_scaler(monkeypatch):
    tool = load_tool()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device=None: SimpleNamespace(total_memory=15 * 2**30))
    monkeypatch.delenv("CONVNET_PRECISION", raising=False)
    device, header = tool.describe_device()
    assert device.type == "cuda"
    assert header[0] == "GPU: Tesla T4 · compute capability 7.5 · 15 GiB"
    assert "precision fp16 + GradScaler" in header[1] and "scaler on" in header[1]


def test_the_table_shows_each_benchmarks_paths_split_and_errors():
    tool = load_tool()
    text = tool.table(["header"], [
        {"run": "02 full", "seconds": 31.25, "peak_gib": 1.5, "error": ""},
        {"run": "benchmark hoh", "seconds": 12.0, "plain_images_s": 400.0,
         "settings_images_s": 1000.0, "helpers_images_s": 9000.0,
         "helpers-fp32_images_s": 4500.0, "model-side settings ratio": 2.5,
         "data in memory ratio": 9.0, "together ratio": 22.5, "precision ratio": 2.0,
         "error": ""},
        {"run": "benchmark rps", "seconds": 3.0, "error": "ModuleNotFoundError: timm"}])
    assert ("| run | seconds | peak GPU memory (GiB) | plain images/s | settings images/s | "
            "helpers images/s | helpers-fp32 images/s | model-side settings ratio | data in "
            "memory ratio | together ratio | precision ratio | error |") in text
    assert "| 02 full | 31.2 | 1.50 |" in text
    assert ("| benchmark hoh | 12.0 |  | 400 | 1000 | 9000 | 4500 | 2.50 | 9.00 | 22.50 | 2.00 "
            "|  |") in text
    assert text.rstrip().endswith("| benchmark rps | 3.0 |" + "  |" * 9
                                  + " ModuleNotFoundError: timm |")  # nine empty cells
