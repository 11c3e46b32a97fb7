"""The models written out in the notebooks are the models in helpers.models (and 05's transfer
model is helpers.transfer.TransferNet): the same layers, parameter count, state-dict keys and
shapes, and the same outputs for the same weights. So the page a learner reads and the package
later notebooks import can never drift apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import helpers.models
import helpers.transfer
from helpers.transfer import make_head

REPO = Path(__file__).resolve().parents[1]
# (notebook, class written out in it, input shape of one image)
WRITTEN_OUT = [
    ("02_fashion_mnist_cnn.ipynb", "FashionDense", (1, 28, 28)),
    ("02_fashion_mnist_cnn.ipynb", "FashionCNN", (1, 28, 28)),
    ("03_horses_or_humans.ipynb", "HorsesHumansCNN", (3, 150, 150)),
    ("06_rock_paper_scissors.ipynb", "RPSNet", (3, 128, 128)),
]


def class_from_notebook(notebook: str, name: str, names: dict | None = None) -> type[nn.Module]:
    """Execute the one code cell of ``notebook`` that defines class ``name``; return the class.

    ``names``: what else the cell uses, beyond torch and nn (the notebook imports it earlier).
    """
    cells = json.loads((REPO / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    defining = [source for source in sources
                if re.search(rf"^class {name}\(nn\.Module\):", source, re.MULTILINE)]
    assert len(defining) == 1, f"{notebook} should define {name} in exactly one cell"
    namespace = {"torch": torch, "nn": nn, **(names or {})}
    exec(compile(defining[0], f"{notebook}:{name}", "exec"), namespace)
    return namespace[name]


def structure(model: nn.Module) -> list[tuple[str, str]]:
    """Every submodule's name and its repr without children (the layer and its settings)."""
    return [(name, module.extra_repr() and f"{type(module).__name__}({module.extra_repr()})"
             or type(module).__name__) for name, module in model.named_modules()]


def assert_same_network(written: nn.Module, packaged: nn.Module, shape: tuple[int, ...]) -> None:
    """Same layers, parameter count, state-dict keys and shapes, and outputs for equal weights."""
    assert structure(written) == structure(packaged)
    assert sum(p.numel() for p in written.parameters()) == \
        sum(p.numel() for p in packaged.parameters())
    assert {k: v.shape for k, v in written.state_dict().items()} == \
        {k: v.shape for k, v in packaged.state_dict().items()}
    written.load_state_dict(packaged.state_dict())  # same weights: same answers
    images = torch.randn(4, *shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(written.eval()(images), packaged.eval()(images), rtol=0, atol=0)


@pytest.mark.parametrize("notebook, name, shape", WRITTEN_OUT, ids=lambda v: str(v))
def test_the_notebook_class_is_the_helpers_class(notebook, name, shape):
    assert_same_network(class_from_notebook(notebook, name)(), getattr(helpers.models, name)(),
                        shape)


def test_notebook_07s_chapter_head_is_make_head():
    """07 writes out the chapter's Rock-Paper-Scissors head with dropout, then trains the heads
    that helpers.transfer.make_head builds: they must be the same network."""
    cells = json.loads((REPO / "notebooks" / "07_dropout.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(cell["source"]) for cell in cells["cells"] if cell["cell_type"] == "code"]
    defining = [source for source in sources if "chapter_head = nn.Sequential(" in source]
    assert len(defining) == 1, "07 should write out chapter_head in exactly one cell"
    namespace = {"nn": nn, "torch": torch, "make_head": make_head, "print": lambda *_: None,
                 "features": {"training": torch.zeros(1, 1280)}}
    exec(compile(defining[0], "07_dropout.ipynb:chapter_head", "exec"), namespace)
    assert_same_network(namespace["chapter_head"], make_head(1280, 3, dropout=0.5), (1280,))


def test_a_changed_layer_is_caught():
    """The comparison itself can fail: one padding changed is a different network."""
    class Changed(helpers.models.FashionCNN):
        def __init__(self) -> None:
            super().__init__()
            self.block1[0] = nn.Conv2d(1, 64, kernel_size=3, padding=0)

    assert structure(Changed()) != structure(helpers.models.FashionCNN())


@pytest.mark.parametrize("base, size", [("efficientnet_lite0", 224), ("inception_v3", 75)])
def test_the_notebook_transfer_net_is_the_helpers_transfer_net(base, size):
    """05 writes out TransferNet without its dropout option: with dropout=0 (the default) it is
    the same network as helpers.transfer.TransferNet, frozen and trained the same way."""
    written_class = class_from_notebook("05_transfer_learning.ipynb", "TransferNet",
                                        {"build_base": helpers.transfer.build_base})
    written = written_class(num_classes=2, base=base)
    packaged = helpers.transfer.TransferNet(num_classes=2, base=base)
    assert structure(written) == structure(packaged)
    assert {k: v.shape for k, v in written.state_dict().items()} == \
        {k: v.shape for k, v in packaged.state_dict().items()}
    assert [(k, p.requires_grad) for k, p in written.named_parameters()] == \
        [(k, p.requires_grad) for k, p in packaged.named_parameters()]
    assert helpers.count_parameters(written) == helpers.count_parameters(packaged)
    written.train()  # what a training loop does: the head trains, the frozen base stays in eval
    assert written.head.training and not written.base.training
    packaged.load_state_dict(written.state_dict())  # same weights: same answers
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(written(images), packaged.train()(images), rtol=0, atol=0)
