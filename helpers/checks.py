"""Self-checks for the questions at the end of each notebook: ``check("02.1", 12)`` prints ✓
or a hint. The answers live here, out of sight, so a learner can test theirs before looking."""

from __future__ import annotations

import math

# question -> (the answer, a hint that points the way without giving it)
ANSWERS: dict[str, tuple[object, str]] = {
    # 01 · Convolutions and pooling
    "01.1": (192, "Only one product changes: the centre weight times the centre pixel. By how "
                  "much does that product grow?"),
    "01.2": ((13, 13), "No padding: n - k + 1 positions each way; then 2x2 pooling halves "
                       "each side."),
    "01.5": (448, "Each filter has 3 x 3 weights for each input channel, plus one bias; "
                  "there are 16 filters."),
    "01.6": (74, "floor((n - kernel) / stride) + 1 with n = 150, kernel 3, stride 2."),
    # 02 · Fashion-MNIST
    "02.1": (12, "A 3x3 filter without padding needs a full 3x3 patch: how many positions "
                 "fit across 14 pixels? (n - k + 1)"),
    "02.2": (5_824, "Each of the 64 filters has 3 x 3 weights for each of the 10 input maps, "
                    "plus one bias."),
    "02.6": (101_770, "Two Linear layers: 784 x 128 weights + 128 biases, then 128 x 10 "
                      "weights + 10 biases."),
    # 03 · Horses or Humans
    # 04 · Image augmentation
    "04.3": ((3, 150, 200), "Resize(150) scales the shorter side to 150 and keeps the "
                            "picture's shape; the tensor's order is channels, height, width."),
    "04.4": (1, "Section 4 sends eight copies of a horse through one call on the batch: count "
                "the different angles in its first row."),
    "04.5": (30, "torchvision draws the shift in whole pixels, up to the given share of the "
                 "width: a fifth of 150."),
    # 05 · Transfer learning
    "05.3": (2_100_226, "Only the first Linear layer's inputs change: features x 1,024 weights "
                        "+ 1,024 biases, then 1,024 x 2 + 2 as before."),
    "05.4": ((16, 2048), "The batch size does not change, and global average pooling leaves one "
                         "row of features per image: as many as Inception hands on (section 2)."),
    "05.5": (7_521_666, "What the loop leaves in Mixed_7c (section 1) plus the new head on "
                        "Inception's features; the old fc is replaced, so it no longer counts."),
    # 06 · Rock, Paper, Scissors
    # 07 · Dropout
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
    elif isinstance(expected, tuple) and isinstance(answer, (tuple, list)):  # a shape
        right = tuple(answer) == expected
    else:
        right = answer == expected
    print(f"✓ {question}: right." if right else f"✗ {question}: not yet. Hint: {hint}")
