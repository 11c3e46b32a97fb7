"""The questions' self-checks: right answers get ✓, wrong ones a hint that is not the answer."""

from __future__ import annotations

import math

import pytest
import torch

import helpers
from helpers.checks import ANSWERS


@pytest.mark.parametrize("question", sorted(ANSWERS))
def test_each_self_check_knows_right_from_wrong(question, capsys):
    expected, hint = ANSWERS[question]
    helpers.check(question, expected)
    assert capsys.readouterr().out.startswith(f"✓ {question}")
    helpers.check(question, None)
    printed = capsys.readouterr().out
    assert printed.startswith(f"✗ {question}: not yet. Hint:") and f"{expected:,}" not in printed
    assert str(expected) not in hint


def test_the_second_convolutions_parameters_are_what_the_rule_gives():
    assert ANSWERS["02.2"][0] == 64 * (10 * 9) + 64
    assert ANSWERS["02.6"][0] == 28 * 28 * 128 + 128 + 128 * 10 + 10
    assert ANSWERS["02.1"][0] == 14 - 3 + 1


def test_notebook_03s_answers_follow_from_the_network():
    side = 300
    for _block in range(3):  # padding keeps the size; each 2x2 pooling halves it, rounding down
        side = (side + 2 * 1 - 3) // 1 + 1
        side = (side - 2) // 2 + 1
    assert ANSWERS["03.2a"][0] == side
    assert ANSWERS["03.2b"][0] == 64 * side * side * 512 + 512
    assert ANSWERS["03.3"][0] == pytest.approx(-math.log(0.01), abs=1e-4)


def test_notebook_07s_answers_follow_from_the_layers():
    from helpers.models import HorsesHumansCNN
    survivors = torch.ones(100_000)
    torch.manual_seed(0)
    scaled = torch.nn.Dropout(0.25)(survivors)
    assert ANSWERS["07.1"][0] == pytest.approx(scaled[scaled > 0][0].item())
    cnn = HorsesHumansCNN()
    dense = cnn.classifier[1]
    assert ANSWERS["07.3"][0] == pytest.approx(
        sum(p.numel() for p in dense.parameters()) / sum(p.numel() for p in cnn.parameters()))


def test_an_unknown_question_names_the_known_ones():
    with pytest.raises(KeyError, match="No self-check for question '99.1'; there are: 02.1"):
        helpers.check("99.1", 3)
