"""Self-checks for the questions at the end of each notebook: ``check("02.1", 12)`` prints ✓
or a hint. The answers live here, out of sight, so a learner can test theirs before looking."""

from __future__ import annotations

import math

# question -> (the answer, a hint that points the way without giving it)
ANSWERS: dict[str, tuple[object, str]] = {
    # 01 · Convolutions and pooling
    # 02 · Fashion-MNIST
    "02.1": (12, "A 3x3 filter without padding needs a full 3x3 patch: how many positions "
                 "fit across 14 pixels? (n - k + 1)"),
    "02.2": (5_824, "Each of the 64 filters has 3 x 3 weights for each of the 10 input maps, "
                    "plus one bias."),
    "02.6": (101_770, "Two Linear layers: 784 x 128 weights + 128 biases, then 128 x 10 "
                      "weights + 10 biases."),
    # 03 · Horses or Humans
    # 04 · Image augmentation
    # 05 · Transfer learning
    # 06 · Rock, Paper, Scissors
    # 07 · Dropout
    # 08 · Class imbalance
    # 09 · Where the network looks
    "09.1": (16, "The photo is 128 pixels across and the map 8 cells: how many pixels per cell?"),
    "09.3": (49, "Count the square's starting positions along one side (0, 16, ... up to "
                 "128 - 32), then square that number."),
    "09.7": (32, "224 pixels across, 7 cells across."),
}


def check(question: str, answer: object) -> None:
    """Print ✓ if ``answer`` is right for ``question`` (e.g. "02.1"), else a hint.

    It returns nothing, so that a notebook cell ending in a check shows only the printed line."""
    if question not in ANSWERS:
        raise KeyError(f"No self-check for question {question!r}; there are: "
                       f"{', '.join(sorted(ANSWERS))}.")
    expected, hint = ANSWERS[question]
    if isinstance(expected, float) and isinstance(answer, (int, float)):
        right = math.isclose(answer, expected, rel_tol=1e-3)
    else:
        right = answer == expected
    print(f"✓ {question}: right." if right else f"✗ {question}: not yet. Hint: {hint}")
