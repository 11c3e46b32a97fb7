"""Self-checks for the questions at the end of each notebook: ``check("02.1", 12)`` prints ✓
or a hint. The answers live here, out of sight, so a learner can test theirs before looking."""

from __future__ import annotations

import math

# question -> (the answer, a hint that points the way without giving it)
ANSWERS: dict[str, tuple[object, str]] = {
    "02.1": (12, "A 3x3 filter without padding needs a full 3x3 patch: how many positions "
                 "fit across 14 pixels? (n - k + 1)"),
    "02.2": (5_824, "Each of the 64 filters has 3 x 3 weights for each of the 10 input maps, "
                    "plus one bias."),
    "02.6": (101_770, "Two Linear layers: 784 x 128 weights + 128 biases, then 128 x 10 "
                      "weights + 10 biases."),
}


def check(question: str, answer: object) -> bool:
    """Print ✓ if ``answer`` is right for ``question`` (e.g. "02.1"), else a hint; return which."""
    if question not in ANSWERS:
        raise KeyError(f"No self-check for question {question!r}; there are: "
                       f"{', '.join(sorted(ANSWERS))}.")
    expected, hint = ANSWERS[question]
    if isinstance(expected, float) and isinstance(answer, (int, float)):
        right = math.isclose(answer, expected, rel_tol=1e-3)
    else:
        right = answer == expected
    print(f"✓ {question}: right." if right else f"✗ {question}: not yet. Hint: {hint}")
    return right
