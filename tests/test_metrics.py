"""Class weights, metrics on a confusion we can work out by hand, the imbalanced copy, the
stratified split, the overlap check and the weighted sampler (helpers.metrics, helpers.sampling)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from helpers.data import ImageSet
from helpers.metrics import (
    class_counts,
    class_weights,
    plot_confusion_matrices,
    report,
    scores,
    scores_table,
)
from helpers.sampling import (
    SampledLoader,
    balanced_sample_weights,
    find_overlaps,
    image_hashes,
    make_imbalanced,
    stratified_split,
)

NAMES = ["paper", "rock", "scissors"]


def numbered_set(counts: list[int], start: int = 0) -> ImageSet:
    """Tiny 1x2x2 images, each filled with its own number (start, start+1, ...): all distinct."""
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    values = torch.arange(start, start + len(labels))
    images = torch.stack([values // 256, values % 256], dim=1).to(torch.uint8)
    images = images.view(-1, 1, 1, 2).expand(-1, 1, 2, 2).contiguous()
    return ImageSet(images, labels, NAMES[:len(counts)])


def numbers_in(data: ImageSet) -> set[int]:
    """The number each image was filled with (see numbered_set)."""
    return {int(image[0, 0, 0]) * 256 + int(image[0, 0, 1]) for image in data.images}


# --------------------------------------------------------------------------------------
# Class weights
# --------------------------------------------------------------------------------------


def test_inverse_weights_for_known_counts_average_one_over_samples():
    weights = class_weights([600, 100, 300])  # N = 1000, C = 3: w_c = N / (C n_c)
    expected = torch.tensor([1000 / 1800, 1000 / 300, 1000 / 900])
    torch.testing.assert_close(weights, expected)
    assert float((weights * torch.tensor([600.0, 100, 300])).sum()) == pytest.approx(1000)


def test_inverse_weights_match_scikit_learns_balanced_weights():
    labels = [0] * 672 + [1] * 54 + [2] * 672
    sklearn_weights = compute_class_weight("balanced", classes=np.arange(3), y=np.array(labels))
    torch.testing.assert_close(class_weights([672, 54, 672]),
                               torch.tensor(sklearn_weights, dtype=torch.float32))


def test_inverse_weights_averaged_over_classes_sum_to_the_number_of_classes():
    weights = class_weights([100, 50, 25], average_over="classes")  # 1/n = 1:2:4, sum 7
    torch.testing.assert_close(weights, torch.tensor([3 / 7, 6 / 7, 12 / 7]))


def test_effective_number_weights_for_known_counts():
    beta = 0.9  # E(n) = (1 - 0.9**n) / 0.1: E(1) = 1, E(2) = 1.9
    weights = class_weights([1, 2], method="effective", beta=beta, average_over="classes")
    raw = torch.tensor([1 / 1.0, 1 / 1.9], dtype=torch.float64)
    torch.testing.assert_close(weights, (raw * 2 / raw.sum()).float())


def test_effective_weights_are_milder_than_inverse_and_equal_at_beta_zero():
    counts = [672, 54, 672]
    inverse = class_weights(counts)
    effective = class_weights(counts, method="effective", beta=0.99)
    assert 1 < effective[1] / effective[0] < inverse[1] / inverse[0]
    torch.testing.assert_close(class_weights(counts, method="effective", beta=0.0),
                               torch.ones(3))


def test_weights_from_a_dataset_count_its_labels():
    data = numbered_set([6, 2, 4])
    assert class_counts(data).tolist() == [6, 2, 4]
    torch.testing.assert_close(class_weights(data), class_weights([6, 2, 4]))


@pytest.mark.parametrize("kwargs, message", [
    ({"counts": [5, 0, 3]}, "no images"),
    ({"counts": [5, 3], "method": "square"}, "method"),
    ({"counts": [5, 3], "method": "effective", "beta": 1.0}, "beta"),
    ({"counts": [5, 3], "average_over": "batches"}, "average_over"),
    ({"counts": []}, "one number per class"),
])
def test_bad_weight_requests_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        class_weights(**kwargs)


# --------------------------------------------------------------------------------------
# Metrics on a small confusion worked out by hand
# --------------------------------------------------------------------------------------
# true paper (4): 3 paper, 1 scissors · true rock (2): 1 rock, 1 paper · true scissors (4): all
# scissors. Precision: paper 3/4, rock 1/1, scissors 4/5. Recall: paper 3/4, rock 1/2,
# scissors 4/4. Accuracy 8/10; balanced accuracy (3/4 + 1/2 + 1) / 3 = 3/4.
TRUE = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
PREDICTED = [0, 0, 0, 2, 1, 0, 2, 2, 2, 2]


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall)


def test_scores_on_a_known_confusion():
    result = scores(torch.tensor(TRUE), torch.tensor(PREDICTED), NAMES)
    assert result["accuracy"] == pytest.approx(0.8)
    assert result["balanced accuracy"] == pytest.approx(0.75)
    assert result["recall paper"] == pytest.approx(0.75)
    assert result["recall rock"] == pytest.approx(0.5)
    assert result["recall scissors"] == pytest.approx(1.0)
    macro = (f1(3 / 4, 3 / 4) + f1(1, 1 / 2) + f1(4 / 5, 1)) / 3
    assert result["macro-F1"] == pytest.approx(macro)


def test_report_lists_each_class_precision_and_recall():
    text = report(TRUE, PREDICTED, NAMES)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()
            if line.split() and line.split()[0] in NAMES}
    assert rows["paper"][:2] == ["0.750", "0.750"]
    assert rows["rock"][:2] == ["1.000", "0.500"]
    assert rows["scissors"][:2] == ["0.800", "1.000"]


def test_a_model_that_never_predicts_the_rare_class_looks_good_only_on_accuracy():
    true = [0] * 45 + [1] * 10 + [2] * 45
    never_rock = [0] * 45 + [0] * 10 + [2] * 45
    result = scores(true, never_rock, NAMES)
    assert result["accuracy"] == pytest.approx(0.9)
    assert result["recall rock"] == 0
    assert result["balanced accuracy"] == pytest.approx(2 / 3)


def test_scores_table_has_a_row_per_run_and_a_column_per_score():
    runs = {"plain": scores(TRUE, PREDICTED, NAMES), "perfect": scores(TRUE, TRUE, NAMES)}
    lines = scores_table(runs).splitlines()
    assert len(lines) == 3 and "macro-F1" in lines[0]
    assert lines[2].split()[0] == "perfect" and set(lines[2].split()[1:]) == {"1.000"}


def test_confusion_matrices_are_drawn_side_by_side_with_labelled_axes():
    fig = plot_confusion_matrices(TRUE, {"a": PREDICTED, "b": TRUE}, NAMES, title="t")
    try:
        assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
        assert fig.axes[0].get_xlabel() == "predicted class"
        assert fig.axes[0].get_ylabel() == "true class"
        shown = fig.axes[0].images[0].get_array()
        assert shown.tolist() == [[3, 0, 1], [1, 1, 0], [0, 0, 4]]
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------------
# The imbalanced copy and the stratified split
# --------------------------------------------------------------------------------------


def test_make_imbalanced_keeps_the_asked_fraction_of_one_class_only():
    data = numbered_set([50, 50, 50])
    smaller = make_imbalanced(data, keep={"rock": 0.1}, seed=3)
    assert class_counts(smaller).tolist() == [50, 5, 50]
    assert numbers_in(smaller) <= numbers_in(data)
    assert numbers_in(make_imbalanced(data, {"rock": 0.1}, seed=3)) == numbers_in(smaller)
    assert numbers_in(make_imbalanced(data, {"rock": 0.1}, seed=4)) != numbers_in(smaller)


def test_make_imbalanced_keeps_at_least_one_image():
    assert class_counts(make_imbalanced(numbered_set([10, 10]), {"rock": 0.01})).tolist() == [10, 1]


@pytest.mark.parametrize("keep, message", [
    ({"stone": 0.1}, "unknown class 'stone'"),
    ({"rock": 0.0}, r"\(0, 1\]"),
    ({"rock": 1.5}, r"\(0, 1\]"),
])
def test_make_imbalanced_refuses_bad_requests(keep, message):
    with pytest.raises(ValueError, match=message):
        make_imbalanced(numbered_set([5, 5, 5]), keep)


def test_stratified_split_holds_out_the_fraction_of_every_class_without_overlap():
    data = numbered_set([40, 10, 20])
    rest, held = stratified_split(data, 0.2, seed=1)
    assert class_counts(held).tolist() == [8, 2, 4]
    assert class_counts(rest).tolist() == [32, 8, 16]
    assert numbers_in(rest) | numbers_in(held) == numbers_in(data)
    assert not numbers_in(rest) & numbers_in(held)
    assert numbers_in(stratified_split(data, 0.2, seed=1)[1]) == numbers_in(held)
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_split(data, 1.0)


# --------------------------------------------------------------------------------------
# The overlap check
# --------------------------------------------------------------------------------------


def test_find_overlaps_reports_clean_sets_as_clean():
    overlaps = find_overlaps(train=numbered_set([5, 5]), test=numbered_set([3, 3], start=100))
    assert overlaps == {("train", "test"): []}


def test_find_overlaps_finds_a_planted_duplicate_even_with_another_label():
    train, test = numbered_set([5, 5]), numbered_set([3, 3], start=100)
    test.images[4] = train.images[7]  # the same picture, now in both sets
    validation = numbered_set([2, 2], start=200)
    overlaps = find_overlaps(train=train, validation=validation, test=test)
    assert overlaps[("train", "test")] == [(7, 4)]
    assert overlaps[("train", "validation")] == [] and overlaps[("validation", "test")] == []


def test_image_hashes_see_every_pixel_and_the_shape():
    data = numbered_set([2, 2])
    reshaped = ImageSet(data.images.reshape(4, 1, 1, 4), data.labels, data.class_names)
    assert len(set(image_hashes(data))) == 4
    assert set(image_hashes(data)).isdisjoint(image_hashes(reshaped))
    with pytest.raises(ValueError, match="two"):
        find_overlaps(train=data)


# --------------------------------------------------------------------------------------
# Oversampling with a WeightedRandomSampler
# --------------------------------------------------------------------------------------


def test_balanced_sampler_draws_every_class_about_equally():
    data = numbered_set([300, 20, 180])
    loader = SampledLoader(data, balanced_sample_weights(data), num_samples=30_000,
                           batch_size=1000, seed=0)
    drawn = torch.cat([labels for _, labels in loader])
    assert len(drawn) == 30_000 and len(loader) == 30
    frequencies = torch.bincount(drawn, minlength=3) / len(drawn)
    torch.testing.assert_close(frequencies, torch.full((3,), 1 / 3), atol=0.015, rtol=0)


def test_sampler_follows_uneven_weights_and_repeats_with_its_seed():
    data = numbered_set([100, 100])
    weights = torch.where(data.labels == 0, 3.0, 1.0)  # class 0 three times as likely
    loader = SampledLoader(data, weights, num_samples=20_000, batch_size=500, seed=5)
    drawn = torch.cat([labels for _, labels in loader])
    assert float((drawn == 0).float().mean()) == pytest.approx(0.75, abs=0.015)
    again = SampledLoader(data, weights, num_samples=20_000, batch_size=500, seed=5)
    assert torch.equal(drawn, torch.cat([labels for _, labels in again]))


def test_sampled_batches_are_normalised_like_the_in_memory_loader():
    data = numbered_set([4, 4])
    loader = SampledLoader(data, torch.ones(8), batch_size=8, mean=0.5, std=0.5, seed=0)
    images, labels = next(iter(loader))
    assert images.dtype == torch.float32 and images.shape == (8, 1, 2, 2)
    assert images.min() >= -1 and images.max() <= 1
    assert len(loader) == 1 and len(labels) == 8
    with pytest.raises(ValueError, match="3 weights for 8 images"):
        SampledLoader(data, torch.ones(3))


def test_balanced_sample_weights_are_one_over_the_class_size():
    data = numbered_set([4, 1])
    assert balanced_sample_weights(data).tolist() == [0.25] * 4 + [1.0]


def test_scores_table_shows_only_the_columns_asked_for():
    runs = {"plain": scores(TRUE, PREDICTED, NAMES)}
    header, row = scores_table(runs, columns=["recall rock", "accuracy"]).splitlines()
    assert header.split() == ["recall", "rock", "accuracy"]
    assert row.split() == ["plain", "0.500", "0.800"]


# --- accuracy with its 95% interval ------------------------------------------------------

def test_the_wilson_interval_matches_its_formula_and_narrows_with_more_images():
    import helpers

    low, high = helpers.accuracy_interval(231, 256)  # 90.2% on a 256-image validation set
    # Wilson (1927), z = 1.96: (x + z²/2 ± z·sqrt(x(n - x)/n + z²/4)) / (n + z²)
    assert round(low, 4) == 0.8598 and round(high, 4) == 0.9330
    assert low < 231 / 256 < high
    wide = helpers.accuracy_interval(9, 10)
    narrow = helpers.accuracy_interval(9_000, 10_000)
    assert wide[1] - wide[0] > 5 * (narrow[1] - narrow[0])
    assert helpers.accuracy_interval(256, 256)[1] == pytest.approx(1.0)  # stays inside 0-1
    assert helpers.accuracy_interval(0, 256)[0] == pytest.approx(0.0)
    assert helpers.accuracy_interval(0, 40)[0] == 0.0  # not -7e-18, printed "-0.000"
    assert f"{helpers.accuracy_interval(0, 40)[0]:.3f}" == "0.000"
    assert helpers.format_accuracy(0.9132, 10_000) == \
        "91.3% (95% interval 90.8%–91.9%, 10,000 images)"
    with pytest.raises(ValueError, match="7 correct out of 5 images is not an accuracy"):
        helpers.accuracy_interval(7, 5)
