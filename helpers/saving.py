"""Saving and reloading a trained model: weights, class names, architecture and preprocessing in
one file of plain data (no pickled code), checked when it is written and when it is read."""

from __future__ import annotations

import inspect
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from helpers.models import FashionCNN, FashionDense, HorsesHumansCNN, RPSNet
from helpers.preprocess import ImageTransform
from helpers.settings import project_folder
from helpers.transfer import TransferNet

SAVE_FORMAT = "convnet-lab model v1"
MODELS_ENV = "CONVNET_MODELS"
# The models ``save_model`` can save and ``load_model`` can rebuild, by name.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    model.__name__: model
    for model in (FashionDense, FashionCNN, HorsesHumansCNN, RPSNet, TransferNet)}
PLAIN = (bool, int, float, str, type(None))


def model_path(filename: str) -> Path:
    """Where a trained model is saved: the folder named by CONVNET_MODELS, else ``models/`` in
    the repository (git-ignored), or ``~/.cache/convnet-lab/models`` for an installed copy."""
    folder = os.environ.get(MODELS_ENV, "").strip()
    return (Path(folder).expanduser() if folder else project_folder("models")) / filename


def _plain(value):
    """A Python number or string for a NumPy or tensor scalar; other values unchanged."""
    return value.item() if isinstance(value, (np.generic, torch.Tensor)) and value.ndim == 0 \
        else value


def check_outputs(outputs: int, class_names: list[str], model_name: str = "The model") -> None:
    """Raise ValueError unless a model with ``outputs`` outputs can name ``class_names``."""
    if outputs == 1 and len(class_names) != 2:
        raise ValueError(f"{model_name} has one output (a yes/no answer between two classes) "
                         f"but {len(class_names)} class names were given: {class_names}. Give "
                         f"exactly two, in label order (label 0 first).")
    if outputs != 1 and outputs != len(class_names):
        raise ValueError(f"{model_name} has {outputs} outputs but {len(class_names)} class "
                         f"names were given: {class_names}. Give one name per output, in "
                         f"label order.")


@torch.no_grad()
def check_fits(model: nn.Module, class_names: list[str], transform: ImageTransform) -> None:
    """Run one blank image of the transform's size through ``model``; raise ValueError unless
    it takes that size and has an output for each class name."""
    name = type(model).__name__
    device = next(model.parameters()).device
    was_training = model.training
    try:
        model.eval()
        size, channels = transform.size, transform.channels
        outputs = model(torch.zeros(1, channels, size, size, device=device))
    except RuntimeError as error:
        kind = "RGB" if transform.channels == 3 else "grey"
        raise ValueError(
            f"{name} cannot take the {transform.size} x {transform.size} {kind} images this "
            f"transform makes ({str(error).splitlines()[0]}). Give the ImageTransform the size "
            f"(and channels) the model was trained at.") from None
    finally:
        model.train(was_training)
    check_outputs(outputs.shape[-1], class_names, name)


def _names(class_names) -> list[str]:
    if isinstance(class_names, str):
        raise ValueError(f"class_names must be a list of names, not one string "
                         f"({class_names!r}).")
    names = list(class_names)
    bad = [name for name in names if not isinstance(name, str)]  # np.str_ is a str
    if bad or not names:
        raise ValueError(f"class_names must be a list of strings, e.g. ['horses', 'humans']; "
                         f"got {names!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must all differ, not {names}.")
    return [str(name) for name in names]


def save_model(path: str | Path, model: nn.Module, class_names: list[str],
               transform: ImageTransform) -> Path:
    """Write weights, class names, architecture and preprocessing to one file (no pickled code).

    Checks first that the model takes the transform's images and has one output per class
    name (two names for a one-output model); raises ValueError when it does not.
    """
    name = type(model).__name__
    if name not in ARCHITECTURES:
        raise ValueError(f"{name} is not one of the models helpers can rebuild "
                         f"({', '.join(ARCHITECTURES)}), so save_model cannot save it. Save "
                         f"its state_dict with torch.save instead.")
    if not isinstance(transform, ImageTransform):
        raise ValueError(f"save_model needs a helpers.ImageTransform (plain data it can store), "
                         f"not a {type(transform).__name__}.")
    names = _names(class_names)
    config = {key: _plain(value) for key, value in getattr(model, "config", {}).items()}
    odd = {key: value for key, value in config.items() if not isinstance(value, PLAIN)}
    if odd:
        raise ValueError(f"{name}.config must hold numbers and strings only; {odd} cannot be "
                         f"saved as plain data.")
    check_fits(model, names, transform)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": SAVE_FORMAT, "architecture": name, "config": config,
                "class_names": names, "transform": asdict(transform), "state_dict": state}, path)
    return path


def _read(path: Path) -> dict:
    """The saved dictionary, or ValueError saying why the file is not one."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, random bytes, pickled code...
        hint = (" It holds NumPy objects: save the model again with the current "
                "helpers.save_model." if "numpy" in str(error) else "")
        raise ValueError(f"{path} is not a readable saved model (damaged, truncated, or not "
                         f"written by helpers.save_model): {type(error).__name__}.{hint}"
                         ) from None
    if not isinstance(saved, dict) or saved.get("format") != SAVE_FORMAT:
        raise ValueError(f"{path} was not written by helpers.save_model.")
    kinds = {"architecture": str, "config": dict, "class_names": list, "transform": dict,
             "state_dict": dict}
    for key, kind in kinds.items():
        if not isinstance(saved.get(key), kind):
            found = type(saved[key]).__name__ if key in saved else "nothing"
            raise ValueError(f"{path} is damaged: its {key!r} entry should be a {kind.__name__} "
                             f"but holds {found}. Save the model again with helpers.save_model.")
    return saved


def _check_config(path: Path, builder, config: dict) -> None:
    """Raise ValueError unless ``config`` holds exactly the arguments ``builder`` accepts."""
    parameters = inspect.signature(builder).parameters
    takes = ", ".join(parameters)
    for key, value in config.items():
        if key not in parameters:
            raise ValueError(f"{path} configures {builder.__name__} with {key}={value!r}, but "
                             f"{builder.__name__} takes only: {takes}. The file was edited or "
                             f"written by another version of helpers.")
        if not isinstance(value, PLAIN):
            raise ValueError(f"{path} holds {key}={value!r} in its configuration: not a "
                             f"number or a string.")
    missing = [key for key, p in parameters.items()
               if p.default is inspect.Parameter.empty and key not in config]
    if missing:
        raise ValueError(f"{path} does not say {', '.join(missing)}, which {builder.__name__} "
                         f"needs. Save the model again with helpers.save_model.")


def _shape_mismatch(expected: dict, state: dict) -> str | None:
    """What differs between the state_dict a model needs and the one a file holds, or None."""
    for key, needed in expected.items():
        held = state.get(key)
        if not isinstance(held, torch.Tensor):
            return f"it has no tensor {key!r}, which the model needs"
        if held.shape != needed.shape:
            return (f"{key!r} is {list(held.shape)} in the file but the model needs "
                    f"{list(needed.shape)}")
    extra = [key for key in state if key not in expected]
    return f"it holds {extra[0]!r}, which the model does not have" if extra else None


def load_model(path: str | Path, device: torch.device | str = "cpu"):
    """Reload a file written by ``save_model``.

    Everything in the file is checked (configuration, weight shapes, class names, transform)
    before the model is built, and ValueError says what does not fit.

    Returns:
        (model in eval mode on ``device``, class_names, transform)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved model at {path}.")
    kind = torch.device(device).type
    missing = {"cuda": "no CUDA GPU (torch.cuda.is_available() is False)",
               "mps": "no Apple MPS (torch.backends.mps.is_available() is False)"}
    if kind in missing and not (torch.cuda.is_available() if kind == "cuda"
                                else torch.backends.mps.is_available()):
        raise ValueError(f"load_model(device={str(device)!r}): this machine has {missing[kind]}. "
                         f"Use device='cpu', or device=helpers.get_device() to take the best "
                         f"one there is.")
    saved = _read(path)
    architecture, config = saved["architecture"], saved["config"]
    builder = ARCHITECTURES.get(architecture)
    if builder is None:
        raise ValueError(f"{path} holds a {architecture}, which helpers cannot build (it "
                         f"builds {', '.join(ARCHITECTURES)}).")
    _check_config(path, builder, config)
    described = f"{architecture}({', '.join(f'{k}={v!r}' for k, v in config.items())})"
    try:
        with torch.device("meta"):  # the shapes only: no memory, however large it claims
            expected = builder(**config).state_dict()
    except Exception as error:
        raise ValueError(f"{path} describes a model that cannot be built, {described}: "
                         f"{error}") from None
    problem = _shape_mismatch(expected, saved["state_dict"])
    if problem:
        raise ValueError(f"The weights in {path} do not fit a {described}: {problem}. The file "
                         f"was damaged or edited; save the model again with helpers.save_model.")
    try:
        names = _names(saved["class_names"])
        transform = ImageTransform(**saved["transform"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds unusable class names or preprocessing: {error}") from None
    model = builder(**config)
    model.load_state_dict(saved["state_dict"])
    model.to(device).eval()
    try:
        check_fits(model, names, transform)
    except ValueError as error:
        raise ValueError(f"{path} does not hold a usable model: {error}") from None
    return model, names, transform
