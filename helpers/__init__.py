"""Helpers shared by the convnet-lab notebooks: data, models, training, metrics, plots, widgets.

The names the notebooks use most are here (``helpers.fit``, ``helpers.InMemoryLoader``...); each
lives in a module by concern, listed in the README's "How the code is organised".
"""

from helpers.checks import check
from helpers.data import ImageSet, InMemoryLoader, list_images, load_image_folder
from helpers.datasets import find_split, load_horses_or_humans, load_rock_paper_scissors
from helpers.inference import predict, predict_image
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
from helpers.readers import load_ascent, load_fashion_mnist
from helpers.safety import TrainingError
from helpers.sampling import (
    SampledLoader,
    balanced_sample_weights,
    find_overlaps,
    image_hashes,
    make_imbalanced,
    stratified_split,
)
from helpers.saving import load_model, model_path, save_model
from helpers.settings import (
    DatasetCorruptError,
    DatasetNotFoundError,
    get_device,
    is_quick,
    quick_or_full,
    seed_everything,
    setup_notebook,
)
from helpers.training import History, evaluate, fit, make_optimizer, train_one_epoch
from helpers.transfer import (
    extract_features,
    inception_transfer,
    preprocessing_for,
    pretrained_transfer,
)

__all__ = [
    "accuracy_interval", "check", "choose_precision", "format_accuracy",
    "SampledLoader", "balanced_sample_weights", "class_counts", "class_weights",
    "find_overlaps", "find_split", "list_images", "image_hashes", "make_imbalanced",
    "plot_confusion_matrices", "report",
    "scores", "scores_table", "stratified_split", "TrainingError",
    "DatasetCorruptError", "DatasetNotFoundError", "History", "ImageError", "ImageSet",
    "ImageTransform", "InMemoryLoader", "count_parameters", "evaluate", "extract_features", "fit",
    "get_device", "inception_transfer",
    "is_quick", "load_ascent", "load_fashion_mnist", "load_horses_or_humans",
    "load_image_folder", "load_model", "load_rock_paper_scissors", "make_optimizer",
    "model_path", "predict", "predict_image", "preprocessing_for", "pretrained_transfer",
    "quick_or_full", "save_model", "seed_everything", "setup_notebook", "train_one_epoch",
]
