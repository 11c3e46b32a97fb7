"""The precision each device trains in: one decision, tested with the capabilities of real GPUs
pretended (no GPU is needed), and the fp16 scaler reaching every path that trains."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers.precision as precision
from helpers.precision import Precision, choose_precision
from helpers.training import fit, make_optimizer, train_one_epoch

# compute capability of each GPU, as torch.cuda.get_device_capability reports it
GPUS = {"T4": (7, 5), "V100": (7, 0), "A100": (8, 0), "L4": (8, 9), "H100": (9, 0)}


@pytest.fixture(autouse=True)
def automatic(monkeypatch):
    monkeypatch.delenv("CONVNET_PRECISION", raising=False)


def pretend_gpu(monkeypatch, capability: tuple[int, int]) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    # what the old rule asked: True on every one of these GPUs, emulation included
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)


@pytest.mark.parametrize("gpu, dtype, scaler", [
    ("T4", torch.float16, True), ("V100", torch.float16, True),
    ("A100", torch.bfloat16, False), ("L4", torch.bfloat16, False),
    ("H100", torch.bfloat16, False),
])
def test_each_gpu_gets_the_precision_its_hardware_has(monkeypatch, gpu, dtype, scaler):
    pretend_gpu(monkeypatch, GPUS[gpu])
    chosen = choose_precision("cuda")
    assert (chosen.dtype, chosen.needs_scaler) == (dtype, scaler)
    assert f"compute capability {GPUS[gpu][0]}.{GPUS[gpu][1]}" in str(chosen)


@pytest.mark.parametrize("amx", [True, False])
def test_a_cpu_trains_in_fp32_with_or_without_amx(monkeypatch, amx):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    chosen = choose_precision("cpu")
    assert chosen.dtype == torch.float32 and not chosen.needs_scaler
    assert ("AMX" in chosen.reason) and (("no AMX" in chosen.reason) != amx)
    with chosen.autocast():  # fp32: no autocast at all
        assert not torch.is_autocast_enabled("cpu")
    assert choose_precision("mps").dtype == torch.float32


def test_amx_is_read_from_torch_or_the_cpu_flags(monkeypatch, tmp_path):
    precision.cpu_has_amx.cache_clear()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert precision.cpu_has_amx()
    precision.cpu_has_amx.cache_clear()
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    flags = tmp_path / "cpuinfo"
    flags.write_text("flags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    monkeypatch.setattr(precision, "Path", lambda path: flags)
    assert precision.cpu_has_amx()
    precision.cpu_has_amx.cache_clear()
    flags.write_text("flags\t\t: fpu avx2 avx512f\n")
    assert not precision.cpu_has_amx()
    precision.cpu_has_amx.cache_clear()


def test_the_environment_variable_forces_a_precision(monkeypatch):
    pretend_gpu(monkeypatch, GPUS["H100"])
    monkeypatch.setenv("CONVNET_PRECISION", "fp16")
    assert choose_precision("cuda").needs_scaler
    monkeypatch.setenv("CONVNET_PRECISION", "BF16")
    forced = choose_precision("cpu")
    assert forced.dtype == torch.bfloat16 and "forced" in forced.reason
    with forced.autocast():
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    monkeypatch.setenv("CONVNET_PRECISION", "half")
    with pytest.raises(ValueError, match="'half' is not a precision: use one of auto, fp32"):
        choose_precision("cpu")
    monkeypatch.setenv("CONVNET_PRECISION", "fp16")
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU; this device is cpu"):
        choose_precision("cpu")


class CountingScaler(torch.amp.GradScaler):
    """A real, switched-off scaler that counts how often it scales a loss."""

    made: list[CountingScaler] = []

    def __init__(self, device: str = "cpu", enabled: bool = True) -> None:
        super().__init__(device, enabled=False)
        self.wanted, self.scaled = enabled, 0
        CountingScaler.made.append(self)

    def scale(self, outputs):
        self.scaled += 1
        return super().scale(outputs)


def tiny_problem() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(12, 4, generator=generator)
    return [(images[i:i + 4], torch.arange(i, i + 4) % 3) for i in range(0, 12, 4)]


@pytest.mark.parametrize("path", ["fit", "train_one_epoch"])
def test_every_path_that_trains_gets_a_scaler_where_fp16_needs_one(monkeypatch, path):
    """With a T4's precision pretended (fp16 on the CPU's batches), fit and train_one_epoch
    called alone both scale every loss; fit keeps one scaler across its epochs."""
    CountingScaler.made = []
    monkeypatch.setattr(torch.amp, "GradScaler", CountingScaler)
    t4 = Precision("cpu", torch.float16, "a T4, pretended")
    monkeypatch.setattr(Precision, "autocast", lambda self: torch.autocast("cpu", enabled=False))
    monkeypatch.setattr("helpers.training.choose_precision", lambda device: t4)
    torch.manual_seed(0)
    model, batches = nn.Linear(4, 3), tiny_problem()
    if path == "fit":
        fit(model, batches, batches, epochs=2, verbose=False, progress=False)
    else:
        train_one_epoch(model, batches, nn.CrossEntropyLoss(), make_optimizer(model))
    assert len(CountingScaler.made) == 1 and CountingScaler.made[0].wanted
    assert CountingScaler.made[0].scaled == len(batches) * (2 if path == "fit" else 1)
