"""Is bf16 worth it on this CPU? One training step in fp32 against the same step under
``torch.autocast("cpu", dtype=torch.bfloat16)``, for the three models trained from scratch.

Each model runs on one random batch of its notebook's size (channels-last, fused Adam, the
notebook's loss), the two precisions alternating three times; the report gives the median
images/s of each and their ratio. It measures speed only (random data): whether learning is
unharmed in bf16 is a separate check. On 2026-12-04 an AMD EPYC with AVX512-BF16 and no AMX
gave 1.7-2.4x; an AVX2-only CPU has been measured 6x slower in bf16. The first line says what
``helpers.precision`` detects here and so which precision the helpers train in.

Usage: python -m benchmarks.cpu_bf16_step [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from helpers.models import FashionCNN, HorsesHumansCNN, RPSNet
from helpers.precision import choose_precision, cpu_bf16_hardware

MODELS = [(FashionCNN, (64, 1, 28, 28), 10, 20), (HorsesHumansCNN, (32, 3, 150, 150), 1, 4),
          (RPSNet, (32, 3, 128, 128), 3, 4)]  # (model, batch shape, outputs, steps timed)


def images_per_second(model: nn.Module, shape: tuple, outputs: int, steps: int,
                      bf16: bool) -> float:
    """Training images/s over ``steps`` steps after one warm-up step."""
    images = torch.randn(shape).to(memory_format=torch.channels_last)
    labels = torch.randint(0, max(outputs, 2), (shape[0],))
    loss_fn = nn.BCEWithLogitsLoss() if outputs == 1 else nn.CrossEntropyLoss()
    targets = labels.float() if outputs == 1 else labels
    optimizer = torch.optim.Adam(model.parameters(), fused=True)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(images).float()
        loss = loss_fn(logits.squeeze(1) if outputs == 1 else logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return shape[0] * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    torch.set_num_threads(parser.parse_args().threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16: "
          f"{cpu_bf16_hardware() or 'none'}; the helpers train in {choose_precision('cpu')}")
    for build, shape, outputs, steps in MODELS:
        model = build().to(memory_format=torch.channels_last)
        speeds: dict[bool, list[float]] = {False: [], True: []}
        for bf16 in (False, True) * 3:
            speeds[bf16].append(images_per_second(model, shape, outputs, steps, bf16))
        fp32, bf16 = (sorted(speeds[key])[1] for key in (False, True))
        print(f"{build.__name__:<16} fp32 {fp32:7.0f} images/s   bf16 {bf16:7.0f} images/s   "
              f"bf16/fp32 {bf16 / fp32:.2f}x")


if __name__ == "__main__":
    main()
