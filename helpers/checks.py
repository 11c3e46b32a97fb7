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
    "03.2a": (37, "Three halvings, each rounding down: 300 -> 150 -> ? -> ?. Stop after the "
                  "third block."),
    "03.2b": (44_859_904, "64 maps of (your side) x (your side) features, times 512 weights "
                          "each, plus 512 biases."),
    "03.3": (4.6052, "One image's loss is -ln(p), p the probability given to its true "
                     "class; math.log is the natural logarithm. Give 3 decimals."),
    # 04 · Image augmentation
    # 05 · Transfer learning
    # 06 · Rock, Paper, Scissors
    # 07 · Dropout
    "07.1": (4 / 3, "The survivors are scaled so that the expected value stays the same: "
                    "divide by the share of units that survive. Give 3 decimals."),
    "07.3": (10_617_344 / 10_641_441, "Divide the first dense layer's parameters (notebook "
                                      "03's summary) by the total; a fraction between 0 and 1."),
    # 08 · Class imbalance
    # 09 · Where the network looks
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
