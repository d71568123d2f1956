"""Sample photos that need no download: they ship inside scikit-image, matplotlib and scikit-learn.

Usage::

    from camkit import samples
    samples.names()                     # ['astronaut', 'cat_and_coffee', 'chelsea', 'china', ...]
    image = samples.load("chelsea")     # RGB uint8 (H, W, 3)
    samples.recommended_class("chelsea")  # 285, 'Egyptian cat'

Each photo comes with an ImageNet class worth explaining, checked against EfficientNet-Lite0's
top-5 (ImageNet has no astronaut, rocket or motorcycle: the nearest classes are named).
``cat_and_coffee`` puts Chelsea (left half) beside the espresso (right half): one image, two
objects, the classic test that a map moves with the class it explains.

``data_scripts/fetch_samples.py`` can download the cat-and-dog photo of the Grad-CAM demos into
:func:`samples_dir`; it is listed as ``cat_and_dog`` once it is there.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..image import load_image
from .cache import camkit_home

EGYPTIAN_CAT = 285
ESPRESSO = 967
TABBY = 281  # the cat of the cat-and-dog photo, the class pytorch-grad-cam's README explains
PUG = 254  # its dog, as the Grad-CAM write-ups name it
CAT_AND_DOG_FILE = "cat_and_dog.png"


@dataclass(frozen=True)
class Sample:
    """One photo: where its file lies, what it shows, and the ImageNet class to explain."""

    locate: Callable[[], Path]
    description: str
    recommended_class: int


def _skimage(filename: str) -> Callable[[], Path]:
    return lambda: Path(str(importlib.resources.files("skimage.data") / filename))


def _sklearn(filename: str) -> Callable[[], Path]:
    return lambda: Path(str(importlib.resources.files("sklearn.datasets") / "images" / filename))


def _matplotlib(filename: str) -> Callable[[], Path]:
    def locate() -> Path:
        from matplotlib import cbook

        return Path(cbook.get_sample_data(filename, asfileobj=False))

    return locate


_BUNDLED = {
    "chelsea": Sample(_skimage("chelsea.png"), "Chelsea the cat (scikit-image)", EGYPTIAN_CAT),
    "coffee": Sample(_skimage("coffee.png"), "an espresso cup on its saucer (scikit-image)", ESPRESSO),
    "astronaut": Sample(
        _skimage("astronaut.png"),
        "Eileen Collins in her space suit, her helmet at the lower right (scikit-image); "
        "ImageNet has no astronaut, the network names the helmet",
        560,  # football helmet
    ),
    "rocket": Sample(_skimage("rocket.jpg"), "a rocket on its launch pad at dusk (scikit-image)", 657),  # missile
    "motorcycle": Sample(_skimage("motorcycle_left.png"), "a motorcycle in a garage (scikit-image)", 665),  # moped
    "grace_hopper": Sample(_matplotlib("grace_hopper.jpg"), "Grace Hopper in navy uniform (matplotlib)", 652),
    "china": Sample(_sklearn("china.jpg"), "a Chinese temple (scikit-learn)", 698),  # palace
    "flower": Sample(_sklearn("flower.jpg"), "an orange dahlia (scikit-learn); the nearest class is daisy", 985),
}

_CAT_AND_DOG = Sample(
    lambda: samples_dir() / CAT_AND_DOG_FILE,
    "the cat and dog of the Grad-CAM demos (downloaded by data_scripts/fetch_samples.py)",
    TABBY,
)

_CAT_AND_COFFEE_DESCRIPTION = "chelsea (left half) beside coffee (right half), each a centred square"


def samples_dir() -> Path:
    """Where downloaded samples live: ``$CAMKIT_HOME/samples``, by default ``~/.cache/camkit/samples``."""
    return camkit_home() / "samples"


def _available() -> dict[str, Sample]:
    available = dict(_BUNDLED)
    if _CAT_AND_DOG.locate().is_file():
        available["cat_and_dog"] = _CAT_AND_DOG
    return available


def names() -> list[str]:
    """Names of the samples available here, sorted (``cat_and_dog`` only once downloaded)."""
    return sorted([*_available(), "cat_and_coffee"])


def _lookup(name: str) -> Sample:
    available = _available()
    if name not in available:
        hint = " (download it with data_scripts/fetch_samples.py)" if name == "cat_and_dog" else ""
        raise KeyError(f"Unknown sample {name!r}{hint}; available: {', '.join(names())}.")
    return available[name]


def load(name: str) -> np.ndarray:
    """The sample photo ``name`` as an RGB uint8 array (H, W, 3)."""
    if name == "cat_and_coffee":
        return cat_and_coffee()
    return load_image(_lookup(name).locate())


def description(name: str) -> str:
    """One line saying what the sample shows and where it comes from."""
    return _CAT_AND_COFFEE_DESCRIPTION if name == "cat_and_coffee" else _lookup(name).description


def recommended_class(name: str) -> int:
    """The ImageNet class index worth explaining on ``name`` (for cat_and_coffee: the cat, 285)."""
    return EGYPTIAN_CAT if name == "cat_and_coffee" else _lookup(name).recommended_class


def _centred_square(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(square.resize((size, size), Image.BICUBIC))


def cat_and_coffee(size: int = 224) -> np.ndarray:
    """Chelsea beside the espresso, RGB uint8 (size, 2 * size, 3).

    The cat fills columns ``[0, size)`` (class 285, Egyptian cat), the cup columns
    ``[size, 2 * size)`` (class 967, espresso); see :func:`half_shares`.
    """
    return np.concatenate([_centred_square(load("chelsea"), size), _centred_square(load("coffee"), size)], axis=1)


def cat_and_dog(size: int = 224) -> np.ndarray:
    """The cat-and-dog photo resized to (size, size, 3), RGB uint8, as the Grad-CAM demos feed it.

    Only once ``data_scripts/fetch_samples.py`` has downloaded it (see :func:`names`); the classes
    the write-ups explain on it are :data:`TABBY` and :data:`PUG`.
    """
    square = Image.fromarray(load("cat_and_dog")).resize((size, size), Image.BICUBIC)
    return np.asarray(square)


def half_shares(cam_map: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """Fractions of a non-negative map's total mass in its left and right halves (they sum to 1).

    For a map of :func:`cat_and_coffee`, a good explanation of 285 puts most mass left, of 967 right.
    """
    values = torch.as_tensor(cam_map, dtype=torch.float64)
    if values.dim() != 2 or values.shape[1] % 2:
        raise ValueError(f"Expected one map (H, W) with an even width, got shape {tuple(values.shape)}.")
    total = values.sum()
    if total <= 0:
        raise ValueError("The map has no positive mass to share between the halves.")
    left = values[:, : values.shape[1] // 2].sum() / total
    return float(left), float(1 - left)
