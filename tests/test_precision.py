"""The precision each device trains in: one decision, tested with the capabilities of real GPUs
pretended (no GPU is needed), and the fp16 scaler reaching every path that trains."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers
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


@pytest.mark.parametrize("native", ["AMX", "AVX512-BF16", None])
def test_a_cpu_trains_in_bf16_only_with_native_bf16_instructions(monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_bf16_hardware", lambda: native)
    chosen = choose_precision("cpu")
    assert chosen.dtype == (torch.bfloat16 if native else torch.float32)
    assert not chosen.needs_scaler and (native or "without AMX or AVX512-BF16") in chosen.reason
    with chosen.autocast():
        assert torch.is_autocast_enabled("cpu") == bool(native)
    assert choose_precision("mps").dtype == torch.float32


@pytest.mark.parametrize("torch_says, flags, expected", [
    ({"_is_amx_tile_supported": True, "_is_avx512_bf16_supported": True}, "", "AMX"),
    ({"_is_amx_tile_supported": False, "_is_avx512_bf16_supported": True}, "", "AVX512-BF16"),
    ({"_is_amx_tile_supported": False, "_is_avx512_bf16_supported": False}, "avx512_bf16", None),
    ({}, "fpu avx2 amx_bf16 amx_tile", "AMX"),          # an older torch: the flags decide
    ({}, "fpu avx2 avx512f avx512_bf16", "AVX512-BF16"),
    ({}, "fpu avx2 avx512f", None),
])
def test_bf16_instructions_are_read_from_torch_or_else_the_cpu_flags(monkeypatch, tmp_path,
                                                                    torch_says, flags, expected):
    for check in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        if check in torch_says:
            monkeypatch.setattr(torch.cpu, check, lambda v=torch_says[check]: v, raising=False)
        else:
            monkeypatch.delattr(torch.cpu, check, raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"flags\t\t: {flags}\n")
    monkeypatch.setattr(precision, "Path", lambda path: cpuinfo)
    precision.cpu_bf16_hardware.cache_clear()
    try:
        assert precision.cpu_bf16_hardware() == expected
    finally:
        precision.cpu_bf16_hardware.cache_clear()



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


def test_a_caller_can_ask_for_a_precision_over_the_environment(monkeypatch):
    monkeypatch.setenv("CONVNET_PRECISION", "bf16")
    asked = choose_precision("cpu", force="fp32")
    assert asked.dtype == torch.float32 and asked.reason == "asked for"
    with pytest.raises(ValueError, match="force='int8' is not a precision"):
        choose_precision("cpu", force="int8")


class RecordsAutocast(nn.Linear):
    """A linear layer that notes, at every forward pass, whether CPU autocast was on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(torch.is_autocast_enabled("cpu"))
        return super().forward(x)


@pytest.mark.parametrize("native", ["AMX", None])
def test_training_runs_in_the_precision_it_is_given_or_the_cpus(monkeypatch, native):
    """fit trains and validates under bf16 autocast on a CPU with native bf16 unless handed
    fp32; on any other CPU it autocasts only when handed bf16."""
    monkeypatch.setattr(precision, "cpu_bf16_hardware", lambda: native)
    batches = tiny_problem()
    for asked, autocast in ((None, bool(native)), (choose_precision("cpu", "fp32"), False),
                            (choose_precision("cpu", "bf16"), True)):
        torch.manual_seed(0)
        model = RecordsAutocast(4, 3)
        model.seen = []
        fit(model, batches, batches, epochs=1, verbose=False, progress=False, precision=asked)
        # training, then validation: each first checks its first batch (no gradients, in the
        # device's precision: it only checks shapes and labels), then runs every batch
        expected = ([bool(native)] + [autocast] * len(batches)) * 2
        assert model.seen == expected, (asked, model.seen)


@pytest.mark.parametrize("native, line", [
    ("AVX512-BF16", "trains in bf16 (CPU with AVX512-BF16: native bf16)"),
    (None, "trains in fp32 (CPU without AMX or AVX512-BF16: bf16 is slower)"),
])
def test_the_setup_cell_says_which_precision_this_machine_trains_in(monkeypatch, capsys,
                                                                    native, line):
    monkeypatch.delenv("CONVNET_PRECISION", raising=False)
    monkeypatch.setattr(precision, "cpu_bf16_hardware", lambda: native)
    monkeypatch.setattr("helpers.settings.get_device", lambda: torch.device("cpu"))
    helpers.setup_notebook()
    assert line in capsys.readouterr().out.splitlines()


def test_a_precision_chosen_for_another_device_is_refused():
    t4 = Precision("cuda", torch.float16, "a T4")
    model, batches = nn.Linear(4, 3), tiny_problem()
    with pytest.raises(ValueError, match=r"chosen for a cuda device, but the model is on cpu: "
                                         r"use helpers.choose_precision\('cpu', 'fp16'\)"):
        fit(model, batches, batches, epochs=1, verbose=False, progress=False, precision=t4)
