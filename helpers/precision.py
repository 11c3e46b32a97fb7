"""The number format training runs in, decided once from what the device can really do.

- a CUDA GPU of compute capability 8.0 or more (A100, L4, H100): bf16 autocast. bf16 has the
  range of fp32, so gradients need no scaling;
- a CUDA GPU below 8.0 (T4, V100): fp16 autocast with a GradScaler. These GPUs have fp16 but no
  bf16 hardware, and fp16's small range would round small gradients to zero without the scaler;
- a CPU with native bf16 instructions (AMX, or AVX512-BF16): bf16 autocast, about 2x faster;
- any other CPU, or Apple's MPS: fp32. bf16 made training about 6x slower on an AVX2-only CPU.

``torch.cuda.is_bf16_supported()`` is not asked: by default it answers "can a bf16 tensor be
made here?" (emulation counts), and says True on a T4, which has no bf16 hardware. On CPUs,
bf16 steps ran about 2x faster with AMX (an Intel Xeon) and with AVX512-BF16 (an AMD EPYC), 6x
slower with AVX2 only: ``cpu_bf16_hardware`` asks the CPU which it has.
``CONVNET_PRECISION=fp32`` (or ``bf16``, ``fp16``) forces one format; ``auto`` is the default.
"""

from __future__ import annotations

import functools
import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

NAMES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """How to run one device: ``dtype`` inside autocast (float32: no autocast), and why."""

    device_type: str
    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        return next(name for name, dtype in NAMES.items() if dtype == self.dtype)

    @property
    def needs_scaler(self) -> bool:
        """fp16 gradients underflow to zero unless the loss is scaled up first."""
        return self.dtype == torch.float16

    def autocast(self) -> AbstractContextManager:
        """The context a forward pass runs in."""
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, switched off (scale, step and update pass straight through) unless fp16."""
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_scaler)

    def __str__(self) -> str:
        scaler = " + GradScaler" if self.needs_scaler else ""
        return f"{self.name}{scaler} ({self.reason})"


# (name, torch's cpuinfo check, Linux's /proc/cpuinfo flag) of the bf16 matrix instructions
# oneDNN uses for bf16 convolutions and matrix products; a CPU without them emulates bf16, slowly.
BF16_INSTRUCTIONS = (("AMX", "_is_amx_tile_supported", "amx_bf16"),
                     ("AVX512-BF16", "_is_avx512_bf16_supported", "avx512_bf16"))


@functools.cache
def cpu_bf16_hardware() -> str | None:
    """This CPU's native bf16 instructions ("AMX" or "AVX512-BF16"), or None if it has none
    (as torch's cpuinfo, or else Linux's /proc/cpuinfo, says)."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.exists() else []
    for name, torch_check, flag in BF16_INSTRUCTIONS:
        ask_torch = getattr(torch.cpu, torch_check, None)
        if (ask_torch() if ask_torch is not None else flag in flags):
            return name
    return None


def choose_precision(device: torch.device | str, force: str | None = None) -> Precision:
    """The precision to train and predict in on ``device`` (see the table at the top).

    ``force`` ("fp32", "bf16" or "fp16") overrides the choice, and the environment variable
    CONVNET_PRECISION, for one call: ``train_one_epoch(..., precision=choose_precision(device,
    force="fp32"))`` trains in fp32 on any device.
    """
    device = torch.device(device)
    source = "force" if force else "CONVNET_PRECISION"
    forced = (force or os.environ.get("CONVNET_PRECISION", "auto")).strip().lower()
    if forced != "auto":
        if forced not in NAMES:
            raise ValueError(f"{source}={forced!r} is not a precision: use one of "
                             f"auto, {', '.join(NAMES)}.")
        if forced == "fp16" and device.type != "cuda":
            raise ValueError(f"{source}=fp16 needs a CUDA GPU; this device is "
                             f"{device.type}. Use bf16 or fp32 here.")
        return Precision(device.type, NAMES[forced], "asked for" if force else
                         "forced by CONVNET_PRECISION")
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return Precision("cuda", torch.bfloat16, f"compute capability {major}.{minor}: "
                                                     f"bf16 hardware")
        return Precision("cuda", torch.float16, f"compute capability {major}.{minor}: no bf16 "
                                                f"hardware below 8.0")
    if device.type == "cpu":
        native = cpu_bf16_hardware()
        if native:
            return Precision("cpu", torch.bfloat16, f"CPU with {native}: native bf16")
        return Precision("cpu", torch.float32, "CPU without AMX or AVX512-BF16: bf16 is slower")
    return Precision(device.type, torch.float32, f"{device.type}: mixed precision not tested")
