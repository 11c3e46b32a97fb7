"""The benchmarks: the race's bookkeeping on scripted paths (which path goes first in each
round, when a path stops, images per second and the split of the ratio, all against numbers
known beforehand); the three paths differ in speed only (the same weights after the same
batches); and each script, run for two short epochs on the real data, races all three paths."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import helpers
from benchmarks import common

REPO = Path(__file__).resolve().parents[1]


class Clock:
    """A stand-in for time.perf_counter that moves only when a scripted batch says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.trace: list[str] = []  # which path trained each batch, in order

    def __call__(self) -> float:
        return self.now


def scripted(name: str, clock: Clock, seconds: float | list[float], accuracies: list[float],
             batches: int = 5) -> common.TrainingPath:
    """A path whose epochs take ``seconds`` (or ``seconds[k]`` in epoch k) on the clock, spread
    evenly over ``batches`` batches of 4 images, with accuracy ``accuracies[k]`` after epoch k."""
    loader = [(torch.zeros(4, 1), torch.zeros(4))] * batches
    state = {"epochs": 0}

    def epoch(given) -> None:
        if isinstance(given, common.Counted):  # the warm-up, not timed
            return
        took = seconds if isinstance(seconds, float) else seconds[state["epochs"]]
        state["epochs"] += 1
        for _ in given:
            clock.now += took / batches
            clock.trace.append(name)

    return common.TrainingPath(epoch, loader, lambda: accuracies[state["epochs"] - 1])


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(common, "time", SimpleNamespace(perf_counter=clock,
                                                        strftime=time.strftime))
    return clock


def test_each_round_starts_with_the_next_path_and_a_path_stops_at_its_target(clock):
    paths = {"plain": scripted("plain", clock, 4.0, [0.5, 0.7, 0.8, 0.9, 0.95]),
             "settings": scripted("settings", clock, 2.0, [0.6, 0.8, 0.91, 0.95]),
             "helpers": scripted("helpers", clock, 1.0, [0.5, 0.95])}
    outcome = common.race(paths, torch.device("cpu"), target=0.9, max_epochs=10)
    assert outcome["rounds"] == [["plain", "settings", "helpers"],
                                 ["settings", "helpers", "plain"],  # helpers done: 0.95
                                 ["plain", "settings"],  # helpers' turn to go first; settings done
                                 ["plain"]]  # plain reaches 0.9 in its 4th epoch
    results = outcome["results"]
    assert [results[n]["epochs_to_target"] for n in ("plain", "settings", "helpers")] == [4, 3, 2]
    assert results["plain"]["seconds_to_target"] == pytest.approx(16.0)
    assert results["helpers"]["seconds_by_epoch"] == pytest.approx([1.0, 1.0])
    assert outcome["shared_rounds"] == 2


def test_the_paths_of_a_round_train_in_turns_each_on_its_own_clock(clock):
    paths = {name: scripted(name, clock, 5.0, [0.0]) for name in common.PATHS}  # 1 s a batch
    outcome = common.race(paths, torch.device("cpu"), None, max_epochs=1, turn_seconds=2.0)
    turns = ["plain"] * 2 + ["settings"] * 2 + ["helpers"] * 2
    assert clock.trace == turns + turns + list(common.PATHS)  # 2, 2 and 1 batches a turn
    assert [outcome["results"][n]["seconds_by_epoch"] for n in common.PATHS] == [[5.0]] * 3


def test_images_per_second_and_the_split_of_the_ratio(clock):
    paths = {"plain": scripted("plain", clock, 4.0, [0.0] * 3),  # 20 images in 4 s
             "settings": scripted("settings", clock, 2.5, [0.0] * 3),  # in 2.5 s
             "helpers": scripted("helpers", clock, 0.5, [0.0] * 3)}  # in 0.5 s
    paths["helpers"].setup_seconds = 3.0
    outcome = common.race(paths, torch.device("cpu"), target=None, max_epochs=3)
    results = outcome["results"]
    speeds = [results[n]["images_per_second"] for n in common.PATHS]
    assert speeds == pytest.approx([5.0, 8.0, 40.0])
    assert all(results[n]["accuracy_by_epoch"] == [] for n in common.PATHS)  # speed only
    assert common.split(results) == pytest.approx(
        {"model-side settings": 1.6, "data in memory": 5.0, "together": 8.0})
    assert outcome["rounds"][2] == ["helpers", "plain", "settings"]


def test_speed_comes_from_the_rounds_every_path_trained(clock):
    """Plain trains on alone after the others reached the target, while something else slows
    the machine tenfold: its speed is still that of the round all three shared."""
    paths = {"plain": scripted("plain", clock, [4.0, 40.0, 40.0], [0.5, 0.6, 0.95]),
             "settings": scripted("settings", clock, 2.0, [0.95]),
             "helpers": scripted("helpers", clock, 1.0, [0.95])}
    outcome = common.race(paths, torch.device("cpu"), target=0.9, max_epochs=5)
    plain = outcome["results"]["plain"]
    assert outcome["shared_rounds"] == 1 and plain["images_per_second"] == pytest.approx(5.0)
    assert plain["seconds_to_target"] == pytest.approx(84.0)  # all three epochs count here


def test_an_error_in_one_path_stops_the_race_with_that_error(clock):
    paths = {name: scripted(name, clock, 5.0, [0.0]) for name in common.PATHS}

    def broken(given) -> None:
        for number, _ in enumerate(given):
            clock.now += 1.0
            if number == 3:
                raise RuntimeError("out of memory, say")

    paths["settings"].epoch = broken
    with pytest.raises(RuntimeError, match="out of memory, say"):
        common.race(paths, torch.device("cpu"), None, max_epochs=2)


def test_max_batches_cuts_every_epoch_short(clock):
    paths = {"plain": scripted("plain", clock, 10.0, [0.0], batches=10)}  # 1 s a batch
    row = common.race(paths, torch.device("cpu"), None, max_epochs=2, max_batches=3)
    assert row["results"]["plain"]["images_by_epoch"] == [12, 12]
    assert row["results"]["plain"]["images_per_second"] == pytest.approx(4.0)


class OneLogit(nn.Module):
    """A small CNN with one logit, as the Horses-or-Humans model: it exercises the squeeze the
    plain loop needs for BCEWithLogitsLoss, and channels-last convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                    nn.Flatten(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@pytest.mark.parametrize("make_model, loss_fn, classes", [
    (OneLogit, nn.BCEWithLogitsLoss(), 2),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3)),
     nn.CrossEntropyLoss(), 3),
])
def test_the_three_paths_differ_in_speed_only(make_model, loss_fn, classes, monkeypatch):
    """Same initial weights, loss, optimizer and learning rate: after the same batches the three
    models hold the same weights (to float rounding: fused Adam and channels-last convolutions
    add up in another order). In fp32 on every path: on a CPU with native bf16 the settings and
    helpers paths would otherwise train in bf16, which rounds in the third digit."""
    monkeypatch.setenv("CONVNET_PRECISION", "fp32")
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 3, 8, 8, generator=generator),
                torch.randint(0, classes, (8,), generator=generator)) for _ in range(6)]
    paths = common.three_paths(make_model, batches, batches, batches, torch.device("cpu"), 0.0,
                               loss_fn)
    start = [p.detach().clone() for p in paths["plain"].model.parameters()]
    for path in paths.values():
        path.epoch(path.loader)
    models = {name: path.model for name, path in paths.items()}
    for name in ("settings", "helpers"):
        for mine, plain in zip(models[name].parameters(), models["plain"].parameters()):
            torch.testing.assert_close(mine, plain, rtol=1e-4, atol=1e-5)
    moved = [not torch.allclose(a, b) for a, b in zip(models["plain"].parameters(), start)]
    assert all(moved)  # every layer learnt something, alike on every path
    layout = {name: next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight
              .is_contiguous(memory_format=torch.channels_last) for name, model in models.items()}
    assert layout == {"plain": False, "settings": True, "helpers": True}  # what differs


def test_where_the_device_trains_in_bf16_a_fourth_path_trains_the_helpers_way_in_fp32(
        monkeypatch):
    monkeypatch.setenv("CONVNET_PRECISION", "bf16")
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 3, 8, 8, generator=generator),
                torch.randint(0, 3, (8,), generator=generator)) for _ in range(6)]
    paths = common.three_paths(
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3)),
        batches, batches, batches, torch.device("cpu"), 0.0, nn.CrossEntropyLoss())
    assert list(paths) == [*common.PATHS, common.FP32]
    for path in paths.values():
        path.epoch(path.loader)
    plain = list(paths["plain"].model.parameters())
    for mine, theirs in zip(paths[common.FP32].model.parameters(), plain):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)  # fp32, as plain
    bf16_gap = max((a - b).abs().max().item()
                   for a, b in zip(paths["helpers"].model.parameters(), plain))
    assert 1e-5 < bf16_gap < 1e-2  # bf16 rounds in the third digit, and still learns alike
    speeds = {name: {"images_per_second": speed} for name, speed in
              (("plain", 100), ("settings", 120), ("helpers", 240), (common.FP32, 150))}
    assert common.split(speeds)["precision"] == 1.6
    del speeds[common.FP32]
    assert "precision" not in common.split(speeds)


# --- each script on the real data, two short epochs ----------------------------------------

BENCHMARKS = {  # script: (a split it needs, batch size, target)
    "hoh": ("horse-or-human/train", 32, 0.88),
    "rps": ("rps/train", 32, 0.95),
    "fashion_mnist": ("fashion-mnist", 64, 0.91),
    "transfer": ("horse-or-human/train", 32, 0.95),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", list(BENCHMARKS))
def test_each_benchmark_races_three_paths_on_real_data(script, real_data, tmp_path):
    split, batch_size, target = BENCHMARKS[script]
    real_data(split)
    out = tmp_path / f"{script}.json"
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--max-epochs", "2", "--max-batches",
         "2", "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    names = list(common.PATHS)
    if script != "transfer" and helpers.choose_precision("cpu").dtype != torch.float32:
        names.append(common.FP32)  # this CPU trains in bf16: the helpers path also in fp32
    assert list(report["results"]) == names and report["target"] == target
    for name, row in report["results"].items():
        epochs = len(row["seconds_by_epoch"])
        # two batches of batch_size images in each epoch it ran, one or two epochs
        assert row["images_by_epoch"] == [2 * batch_size] * epochs, name
        assert len(row["accuracy_by_epoch"]) == epochs and all(
            0 <= a <= 1 for a in row["accuracy_by_epoch"]), name
    for number, order in enumerate(report["rounds"]):  # plain first, then settings, ...
        turn = names[number % len(names):] + names[:number % len(names)]
        assert order == [name for name in turn if name in order], report["rounds"]
    assert report["rounds"][0] == names
    assert "model-side settings" in done.stdout and "data in memory" in done.stdout
    assert report["results"]["helpers"]["setup_seconds"] > 0  # decoding (and features) counted
    if script == "transfer":
        assert report["base"] == "efficientnet_lite0" and report["feature_pass_seconds"] > 0


@pytest.mark.slow
def test_the_precision_learning_script_trains_both_precisions_from_one_seed(real_data, tmp_path):
    real_data("fashion-mnist")
    out = tmp_path / "precision.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.precision_learning", "--seeds", "1", "--epochs", "2",
         "--max-batches", "3", "--json", str(out)], cwd=REPO, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    own = helpers.choose_precision("cpu").name
    assert [run["precision"] for run in report["runs"]] == ["fp32", "bf16" if own == "fp32"
                                                            else own]
    for run in report["runs"]:
        assert run["seed"] == 0 and len(run["test_accuracy"]) == 2
        assert all(0 < a <= 1 for a in run["test_accuracy"])
    fp32, low = (run["test_accuracy"] for run in report["runs"])
    assert abs(fp32[-1] - low[-1]) < 0.15  # six batches in: learning alike
    assert "mean of 1 seeds" in done.stdout
