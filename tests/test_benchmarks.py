"""The benchmark scripts run, race both paths and report consistent numbers (short runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains on real data: the slow tier

REPO = Path(__file__).resolve().parents[1]


def run_benchmark(module: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{module}.json"
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--max-epochs", "1", "--max-batches", "3",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "plain" in result.stdout and "helpers" in result.stdout, result.stdout
    return json.loads(out.read_text()) | {"stdout": result.stdout, "stderr": result.stderr}


def check_race(report: dict, target: float | None) -> None:
    assert report["target"] == target
    for name in ("plain", "helpers"):
        row = report["results"][name]
        assert row["images_per_second"] > 0 and row["seconds_per_epoch"] > 0
        if target is None:  # speed only: nothing evaluated, nothing claimed
            assert row["accuracy_by_epoch"] == [] and row["epochs_to_target"] is None
            continue
        assert len(row["accuracy_by_epoch"]) == 1  # --max-epochs 1
        reached = row["accuracy_by_epoch"][0] >= target
        assert (row["epochs_to_target"] == 1) == reached


def test_hoh_benchmark_on_real_data(tmp_path):
    if not (Path(os.environ["CONVNET_DATA"]) / "horse-or-human").exists():
        pytest.skip("real Horses-or-Humans not found: set CONVNET_DATA")
    report = run_benchmark("hoh", tmp_path)
    check_race(report, 0.88)
    assert report["results"]["helpers"]["setup_seconds"] > 0  # the one-time decode is counted


def test_rps_benchmark_on_real_data(tmp_path):
    if not (Path(os.environ["CONVNET_DATA"]) / "rps").exists():
        pytest.skip("real Rock-Paper-Scissors not found: set CONVNET_DATA")
    check_race(run_benchmark("rps", tmp_path), 0.95)


def test_fashion_benchmark_on_real_data(tmp_path):
    if not (Path(os.environ["CONVNET_DATA"]) / "FashionMNIST").exists():
        pytest.skip("real Fashion-MNIST not found: set CONVNET_DATA")
    report = run_benchmark("fashion_mnist", tmp_path)
    check_race(report, 0.91)
    assert "stand" not in report["stdout"].lower()


def test_transfer_benchmark_on_real_data(tmp_path):
    if not (Path(os.environ["CONVNET_DATA"]) / "horse-or-human").exists():
        pytest.skip("real Horses-or-Humans not found: set CONVNET_DATA")
    report = run_benchmark("transfer", tmp_path)
    check_race(report, 0.95)
    assert report["base"] == "efficientnet_lite0" and report["feature_pass_seconds"] > 0
