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
    "03.2a": (37, "Three halvings, each rounding down: 300 -> 150 -> ? -> ?. Stop after the "
                  "third block."),
    "03.2b": (44_859_904, "64 maps of (your side) x (your side) features, times 512 weights "
                          "each, plus 512 biases."),
    "03.3": (4.6052, "One image's loss is -ln(p), p the probability given to its true "
                     "class; math.log is the natural logarithm. Give 3 decimals."),
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
    "06.1": (3, "Sort the five folder names alphabetically; a label is a position in that "
                "list, counted from 0."),
    "06.2": (5.588, "Cross-entropy is -log of the probability softmax gives the true class; "
                    "section 2 prints the three probabilities (or ask nn.CrossEntropyLoss)."),
    # 07 · Dropout
    "07.1": (4 / 3, "The survivors are scaled so that the expected value stays the same: "
                    "divide by the share of units that survive. Give 3 decimals."),
    "07.3": (10_617_344 / 10_641_441, "Divide the first dense layer's parameters (notebook "
                                      "03's summary) by the total; a fraction between 0 and 1."),
    # 08 · Class imbalance
    "08.1a": (0.951, "Count the right answers, 98% of 950 plus 40% of 50, out of 1,000; give "
                     "a fraction between 0 and 1."),
    "08.1b": (0.69, "The plain mean of the two classes' recalls, as a fraction."),
    "08.3a": (1000 / 30, "N / (C x n) with N = 1,000 images, C = 3 classes and n = 10."),
    "08.3b": (2.388, "E(n) = (1 - 0.99**n) / 0.01 for each class; the weights go as 1 / E(n), "
                     "scaled so that the three add up to 3."),
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
    elif isinstance(expected, tuple) and isinstance(answer, (tuple, list)):  # a shape
        right = tuple(answer) == expected
    else:
        right = answer == expected
    print(f"✓ {question}: right." if right else f"✗ {question}: not yet. Hint: {hint}")
