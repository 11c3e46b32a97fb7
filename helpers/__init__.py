"""Helpers shared by the convnet-lab notebooks (data, models, training, plots, widgets)."""

from helpers.checks import check
from helpers.data import (
    DatasetCorruptError,
    DatasetNotFoundError,
    ImageSet,
    InMemoryLoader,
    is_quick,
    load_ascent,
    load_fashion_mnist,
    load_horses_or_humans,
    load_image_folder,
    load_rock_paper_scissors,
    quick_or_full,
)
from helpers.inference import predict_image
from helpers.metrics import (
    accuracy_interval,
    class_counts,
    class_weights,
    format_accuracy,
    plot_confusion_matrices,
    report,
    scores,
    scores_table,
)
from helpers.models import count_parameters
from helpers.precision import choose_precision
from helpers.preprocess import ImageError, ImageTransform
from helpers.sampling import (
    SampledLoader,
    balanced_sample_weights,
    find_overlaps,
    image_hashes,
    make_imbalanced,
    stratified_split,
)
from helpers.saving import load_model, model_path, save_model
from helpers.training import (
    History,
    TrainingError,
    evaluate,
    fit,
    get_device,
    make_optimizer,
    predict,
    seed_everything,
    setup_notebook,
    train_one_epoch,
)
from helpers.transfer import (
    extract_features,
    inception_transfer,
    preprocessing_for,
    pretrained_transfer,
)

__all__ = [
    "accuracy_interval", "check", "choose_precision", "format_accuracy",
    "SampledLoader", "balanced_sample_weights", "class_counts", "class_weights",
    "find_overlaps", "image_hashes", "make_imbalanced", "plot_confusion_matrices", "report",
    "scores", "scores_table", "stratified_split", "TrainingError",
    "DatasetCorruptError", "DatasetNotFoundError", "History", "ImageError", "ImageSet",
    "ImageTransform", "InMemoryLoader", "count_parameters", "evaluate", "extract_features", "fit",
    "get_device", "inception_transfer",
    "is_quick", "load_ascent", "load_fashion_mnist", "load_horses_or_humans",
    "load_image_folder", "load_model", "load_rock_paper_scissors", "make_optimizer",
    "model_path", "predict", "predict_image", "preprocessing_for", "pretrained_transfer",
    "quick_or_full", "save_model", "seed_everything", "setup_notebook", "train_one_epoch",
]
