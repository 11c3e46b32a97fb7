"""The questions' self-checks: right answers get ✓, wrong ones a hint that is not the answer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import helpers
from helpers.checks import ANSWERS


@pytest.mark.parametrize("question", sorted(ANSWERS))
def test_each_self_check_knows_right_from_wrong(question, capsys):
    expected, hint = ANSWERS[question]
    helpers.check(question, expected)
    assert capsys.readouterr().out.startswith(f"✓ {question}")
    helpers.check(question, None)
    printed = capsys.readouterr().out
    spellings = {str(expected)} | ({f"{expected:,}"} if isinstance(expected, int) else set())
    assert printed.startswith(f"✗ {question}: not yet. Hint:")
    assert not any(spelling in printed for spelling in spellings), printed


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
    with pytest.raises(KeyError, match="No self-check for question '99.1'; there are: 01.1"):
        helpers.check("99.1", 3)


def test_a_shape_may_be_given_as_a_tuple_a_list_or_a_torch_size(capsys):
    for answer in ((13, 13), [13, 13], torch.Size([13, 13])):
        helpers.check("01.2", answer)
        assert capsys.readouterr().out.startswith("✓ 01.2")
    helpers.check("01.2", (13, 13, 1))
    assert capsys.readouterr().out.startswith("✗ 01.2")


def test_the_answers_of_06_and_08_are_what_pytorch_and_the_helpers_compute():
    logits = torch.tensor([[-2.5582, -1.7362, 3.8465]])  # the chapter's, in notebook 06
    rock = sorted(["paper", "rock", "scissors"]).index("rock")
    assert ANSWERS["06.2"][0] == pytest.approx(
        nn.CrossEntropyLoss()(logits, torch.tensor([rock])).item(), abs=5e-4)
    assert ANSWERS["06.1"][0] == sorted(["rock", "paper", "scissors", "lizard", "spock"]
                                        ).index("scissors")
    assert ANSWERS["08.1a"][0] == pytest.approx((0.98 * 950 + 0.40 * 50) / 1000)
    assert ANSWERS["08.1b"][0] == pytest.approx((0.98 + 0.40) / 2)
    weights = helpers.class_weights([900, 90, 10])
    assert ANSWERS["08.3a"][0] == pytest.approx(weights[2].item(), rel=1e-6)
    effective = helpers.class_weights([900, 90, 10], method="effective", beta=0.99,
                                      average_over="classes")
    assert ANSWERS["08.3b"][0] == pytest.approx(effective[2].item(), abs=5e-4)


def test_the_answers_of_09_are_what_the_models_and_occlusion_give():
    import timm

    from helpers.explain import occlusion, target_layer
    from helpers.models import RPSNet

    def map_side(model: nn.Module, size: int) -> int:
        kept = []
        hook = target_layer(model).register_forward_hook(lambda _m, _i, out: kept.append(out))
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
        hook.remove()
        return kept[0].shape[-1]

    assert ANSWERS["09.1"][0] == 128 // map_side(RPSNet(), 128)
    lite0 = timm.create_model("tf_efficientnet_lite0", pretrained=False)  # shapes only
    assert ANSWERS["09.7"][0] == 224 // map_side(lite0, 224)
    seen = []

    class Counting(nn.Module):
        def forward(self, x):
            seen.append(len(x))
            return x.mean(dim=(1, 2, 3))[:, None]

    occlusion(Counting(), torch.ones(3, 128, 128), class_index=1, patch=32, stride=16)
    assert ANSWERS["09.3"][0] == sum(seen) - 1  # less the uncovered photo


def test_the_transfer_answers_are_what_the_networks_give():
    from torchvision.models import inception_v3

    from helpers.transfer import build_base, make_head

    head = sum(p.numel() for p in make_head(2048, 2).parameters())
    assert ANSWERS["05.3"][0] == head
    base, _ = build_base("inception_v3")
    with torch.inference_mode():  # the smallest input Inception takes: the shape is the same
        assert tuple(base.eval()(torch.zeros(16, 3, 75, 75)).shape) == ANSWERS["05.4"][0]
    stock = inception_v3(weights=None, aux_logits=True, init_weights=False)
    for name, parameter in stock.named_parameters():  # the chapter's freezing loop
        parameter.requires_grad = False
        if "Mixed_7c" in name:
            break
    left = sum(p.numel() for p in stock.Mixed_7c.parameters() if p.requires_grad)
    assert ANSWERS["05.5"][0] == left + head


def test_the_augmentation_answers_are_what_torchvision_and_batchaugment_give():
    from torchvision.transforms import v2

    from helpers.augment import BatchAugment

    assert tuple(v2.Resize(150)(torch.zeros(3, 300, 400)).shape) == ANSWERS["04.3"][0]
    torch.manual_seed(0)
    copies = torch.arange(3 * 20 * 20, dtype=torch.float).view(1, 3, 20, 20).expand(32, -1, -1, -1)
    rotated = v2.RandomRotation(40)(copies)  # one call on the whole batch
    assert len(torch.unique(rotated, dim=0)) == ANSWERS["04.4"][0]
    shifts = BatchAugment().draw_params(torch.zeros(2000, 3, 150, 150, dtype=torch.uint8))
    assert shifts["shift_x"].abs().max().item() == ANSWERS["04.5"][0]
