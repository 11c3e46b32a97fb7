"""Notebook 05, transfer learning: a new head on a frozen pretrained base (EfficientNet-Lite0
with its ImageNet weights, as in the notebook), trained the chapter's
way (the frozen base runs on every image in every epoch) against the helpers way (the base runs
once, its features are cached, the head trains on them). Speed, and time to the chapter's
validation accuracy (95%) on Horses or Humans.

* plain   - ImageFolder, per-item PIL transforms (Resize to the base's size, ToTensor,
            Normalize with its mean and std), a DataLoader, the whole TransferNet forward every
            batch, ``loss.item()`` every batch.
* helpers - images decoded once; one pass of the frozen base over them (counted as one-time
            setup, and in the time to target); then the head on cached features.

Both heads start from the same weights. The plain path's accuracy is measured through its own
head on the cached validation features: the base is frozen and in eval mode, so this gives the
same logits as the full model (tests/test_transfer.py checks that), at a fraction of the cost.
Only training is timed.

The pretrained weights come with pip (README, "Pretrained weights"); without them the script
stops with a message saying how to install them.

Usage: python -m benchmarks.transfer [--max-epochs 10] [--max-batches N] [--json FILE]
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import helpers
from benchmarks.common import TrainingPath, parse_args, plain_epoch, race, report
from helpers.datasets import find_split
from helpers.precision import choose_precision
from helpers.training import evaluate, make_optimizer, train_one_epoch
from helpers.transfer import TensorLoader, extract_features, preprocessing_for, pretrained_transfer

TARGET = 0.95  # the chapter's validation accuracy with the pretrained base
BASE = "efficientnet_lite0"  # "inception_v3" where its weights are available


def main() -> None:
    args = parse_args(__doc__, max_epochs=10)
    device = helpers.get_device()
    prep = preprocessing_for(BASE)

    helpers.seed_everything(0)
    model = pretrained_transfer(BASE, num_classes=2).to(device)
    fast_head = copy.deepcopy(model.head)  # the same starting weights, for helpers

    start = time.perf_counter()
    train, val = helpers.load_horses_or_humans(size=prep.size)
    train, val = train.to(device), val.to(device)
    decode_seconds = time.perf_counter() - start

    def features(data):
        loader = helpers.InMemoryLoader(data, 64, mean=prep.mean, std=prep.std)
        return extract_features(model.base, loader, device)

    start = time.perf_counter()
    train_features = features(train)
    feature_seconds = time.perf_counter() - start
    val_features = features(val)
    val_loader = TensorLoader(val_features, val.labels, batch_size=256)

    plain_loader = DataLoader(datasets.ImageFolder(
        find_split("horse-or-human/train"), transform=transforms.Compose([
            transforms.Resize((prep.size, prep.size)), transforms.ToTensor(),
            transforms.Normalize(prep.mean, prep.std)])), batch_size=32, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    plain_opt = torch.optim.Adam(model.head.parameters(), lr=1e-3)
    fast_opt = make_optimizer(fast_head, lr=1e-3)
    fast_scaler = choose_precision(device).scaler()  # on for fp16 only, kept across epochs
    paths = {
        "plain": TrainingPath(
            lambda loader: plain_epoch(model, loader, loss_fn, plain_opt, device), plain_loader,
            lambda: evaluate(model.head, val_loader, loss_fn, device)[1]),
        "helpers": TrainingPath(
            lambda loader: train_one_epoch(fast_head, loader, loss_fn, fast_opt, device,
                                           fast_scaler),
            TensorLoader(train_features, train.labels, batch_size=32, shuffle=True),
            lambda: evaluate(fast_head, val_loader, loss_fn, device)[1],
            setup_seconds=decode_seconds + feature_seconds),
    }
    results = race(paths, device, TARGET, args.max_epochs, args.max_batches)
    title = (f"Notebook 05 · transfer learning on Horses or Humans ({BASE}, 1,027 images, "
             f"{prep.size}x{prep.size}, batch 32)")
    report(title, results, device, TARGET, args.json,
           {"base": BASE, "decode_seconds": decode_seconds,
            "feature_pass_seconds": feature_seconds})
    print(f"one-time work of the helpers path: decoding {decode_seconds:.1f} s, feature pass "
          f"{feature_seconds:.1f} s over {len(train):,} images")


if __name__ == "__main__":
    main()
