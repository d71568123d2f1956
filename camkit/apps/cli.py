"""The ``camkit`` command: classify one image, explain a class, save the picture.

    camkit chelsea --model efficientnet_lite0
    camkit photo.jpg --method guided-gradcam --target 'Egyptian cat' --out explained.png
    python -m camkit --help

It prints the top-5 classes with their probabilities and writes a PNG at the model's input
resolution: a layer map blended over the image as the model saw it (after resizing and cropping),
or an input gradient made visible with :func:`camkit.deprocess`.  ``--method`` takes any name of
the method registry (:func:`camkit.available_methods`), read when the arguments are parsed.
Problems the user can fix (no such file, a damaged image, unknown method, model, layer, class or
device, missing weights) end with exit status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import textwrap
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .. import zoo
from ..core.registry import INPUT_GRADIENT, LAYER_MAP, MethodInfo, available_methods, method_info
from ..image import deprocess, load_image, overlay, to_image
from ..zoo import samples
from ..zoo.cache import imagenet_available

DEFAULT_METHOD = "gradcam"
EXIT_USAGE = 2


class UsageError(Exception):
    """A problem the user can fix; reported in one line with exit status 2."""


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, but a line never breaks inside a hyphenated name ("Eigen-CAM")."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its help text documents every option and lists the registered methods)."""
    methods = [method_info(name) for name in available_methods()]  # read now: methods registered late count
    parser = argparse.ArgumentParser(
        prog="camkit",
        formatter_class=HelpFormatter,
        description="Print a model's top-5 classes for an image, explain one class (a class activation "
        "map or an input gradient) and save the picture as PNG.",
        epilog="Examples: camkit chelsea --model efficientnet_lite0 | "
        "camkit photo.jpg --method guided-gradcam --target 281 --out tabby.png",
    )
    parser.add_argument(
        "image",
        metavar="IMAGE",
        help="an image file, or the name of a sample photo that ships with the installed packages: "
        + ", ".join(samples.names()),
    )
    parser.add_argument(
        "--model", default="resnet50",
        help=f"zoo classifier (default: resnet50): {', '.join(zoo.CLASSIFIERS)}; efficientnet_lite0 has "
        "ImageNet weights without any download; vit_mini is a small vision transformer (ShapeScenes weights)",
    )
    parser.add_argument(
        "--weights", default="auto", choices=zoo.WEIGHT_CHOICES,
        help="imagenet, shapes (camkit's ShapeScenes models), random, or auto (default): ImageNet "
        "weights when cached or downloadable, else shapes",
    )
    parser.add_argument(
        "--method", default=DEFAULT_METHOD, metavar="METHOD",
        help=f"how to explain (default: {DEFAULT_METHOD}), a registered method; {method_help(methods)}",
    )
    parser.add_argument("--layer", help="dotted module name to explain, e.g. layer4 (default: the zoo's layer for the model)")
    parser.add_argument(
        "--target", default="top1",
        help="class to explain: top1 (default, the predicted class), an index such as 285, or a class name such as 'Egyptian cat'",
    )
    parser.add_argument(
        "--out", default="cam.png",
        help="where to write the PNG (default: cam.png), at the model's input size: a layer map over the image "
        "as the model saw it (resized and cropped), or an input gradient, deprocessed",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps, where PyTorch can use it")
    return parser


def method_help(methods: Sequence[MethodInfo]) -> str:
    """The registered methods by kind, each with its title and whether it takes no ``--layer``."""
    groups = []
    for kind, label in ((LAYER_MAP, "layer maps"), (INPUT_GRADIENT, "input gradients")):
        entries = [f"{m.name} ({m.title}{'' if m.takes_layer else ', no --layer'})" for m in methods if m.kind == kind]
        if entries:
            groups.append(f"{label}: {', '.join(entries)}")
    return "; ".join(groups)


def find_method(name: str) -> MethodInfo:
    """The registered method ``name``; an unknown name is a usage error listing the close names."""
    try:
        return method_info(name)
    except ValueError as error:
        raise UsageError(str(error)) from None


def read_image(source: str) -> np.ndarray:
    """An existing file wins (a damaged one is an error); otherwise ``source`` must name a sample photo."""
    if os.path.exists(source):
        check_intact(source)
        try:
            return load_image(source)
        except (OSError, ValueError) as error:
            raise UsageError(str(error)) from None
    if source in samples.names():
        return samples.load(source)
    raise UsageError(f"No image file {source!r}, and no sample of that name (samples: {', '.join(samples.names())}).")


def check_intact(path: str) -> None:
    """Refuse a damaged image file, which OpenCV would decode in part without a word (e.g. a truncated JPEG).

    Pillow decodes the whole file; one it cannot open at all is left to :func:`camkit.load_image`.
    """
    try:
        picture = Image.open(path)
    except (OSError, Image.DecompressionBombError):
        return
    with picture:
        try:
            picture.load()
        except OSError as error:
            raise UsageError(f"{path!r} is a damaged or truncated image file ({error}).") from None


def available_devices() -> list[str]:
    """The device types PyTorch can use on this machine: cpu, then cuda and mps where present."""
    here = ["cpu"]
    if torch.cuda.is_available():
        here.append("cuda")
    if torch.backends.mps.is_available():
        here.append("mps")
    return here


def select_device(name: str) -> torch.device:
    """The torch device ``name``, refusing one this machine does not have."""
    here = available_devices()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"Unknown device {name!r}; available here: {', '.join(here)}.") from None
    if device.type not in here:
        raise UsageError(f"--device {name} is not available on this machine; available here: {', '.join(here)}.")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: PyTorch sees {torch.cuda.device_count()} CUDA GPU(s) here, "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    return device


def load_model(name: str, weights: str, device: torch.device) -> tuple[zoo.ZooModel, list[str]]:
    """The zoo model on ``device``, and the notes the zoo announced while loading (weights it chose, and why)."""
    if name in zoo.ARCHITECTURES and zoo.ARCHITECTURES[name].segmentation:
        raise UsageError(f"{name} is a segmentation model (a class per pixel), and the command line explains classifiers "
                         f"({', '.join(zoo.CLASSIFIERS)}). Explain it from Python with target=camkit.targets.SegmentationRegion(c): "
                         "notebooks/16_beyond_classification.ipynb.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            choice = zoo.resolve_weights(name, weights)
            zoo_model = zoo.load(name, weights=choice)
        except (ValueError, FileNotFoundError) as error:  # unknown name; shapes weights not built (CAMKIT_NO_TRAIN)
            raise UsageError(str(error)) from None
        except RuntimeError as error:
            missing_imagenet = choice == "imagenet" and not imagenet_available(name)
            hint = " (--model efficientnet_lite0 needs no download.)" if missing_imagenet else ""
            raise UsageError(f"{error}{hint}") from None
    zoo_model.model.to(device)
    return zoo_model, [str(w.message) for w in caught]


def class_index(target: str, categories: Sequence[str], logits: torch.Tensor) -> int:
    """``top1``, an index, or a class name (case-insensitive) -> class index."""
    if target == "top1":
        return int(logits.argmax())
    if target.lstrip("-").isdigit():
        index = int(target)
        if not 0 <= index < len(categories):
            raise UsageError(f"Class index {index} is out of range: the model has classes 0 to {len(categories) - 1}.")
        return index
    lowered = [c.lower() for c in categories]
    if target.lower() in lowered:
        return lowered.index(target.lower())
    close = difflib.get_close_matches(target.lower(), lowered, n=3, cutoff=0.6)
    hint = f" Close names: {', '.join(repr(categories[lowered.index(c)]) for c in close)}." if close else ""
    raise UsageError(f"Unknown class {target!r}: give top1, an index, or a class name of the model.{hint}")


def explain(zoo_model: zoo.ZooModel, info: MethodInfo, layer: str | None, x: torch.Tensor,
            target: int) -> tuple[np.ndarray, list[str]]:
    """The picture to save (a layer map over the image, or an input gradient, deprocessed), and
    what the method announced (a layout it inferred, such as a transformer's tokens as a grid)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = info.create(zoo_model.model, layer)(x, target)[0]
        except (ValueError, TypeError, RuntimeError) as error:
            raise UsageError(str(error)) from None
    notes = [str(w.message) for w in caught]
    if info.kind == LAYER_MAP:
        return overlay(zoo_model.picture(x[0]), result), notes
    return to_image(deprocess(result)), notes


def run(args: argparse.Namespace) -> None:
    """Everything after parsing; raises :class:`UsageError` for problems the user can fix."""
    info = find_method(args.method)
    image = read_image(args.image)
    device = select_device(args.device)
    zoo_model, notes = load_model(args.model, args.weights, device)
    if args.layer is not None and not info.takes_layer:
        why = "it explains the input pixels" if info.kind == INPUT_GRADIENT else "it takes no layer"
        notes.append(f"--layer does not apply to {info.title} ({why}); ignored")
    layer = (args.layer or zoo_model.layer) if info.takes_layer else None
    x = zoo_model.preprocess(image)[None].to(device)
    with torch.no_grad():
        logits = zoo_model.model(x)[0]
    target = class_index(args.target, zoo_model.categories, logits)

    for note in notes:
        print(f"note: {note}")
    print(f"{args.image}: {zoo_model.name} with {zoo_model.weights} weights, top-5")
    probabilities = logits.softmax(dim=0)
    top = probabilities.topk(min(5, len(probabilities)))
    for rank, (p, index) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
        print(f"  {rank}. {index:4d} {zoo_model.categories[index]:<30} {100 * p:5.1f}%")

    picture, notes = explain(zoo_model, info, layer, x, target)
    for note in notes:
        print(f"note: {note}")
    try:
        Image.fromarray(picture).save(args.out)
    except (OSError, ValueError) as error:
        raise UsageError(f"Cannot write {args.out!r}: {error}") from None
    where = f" at layer {layer!r}" if info.takes_layer else ""
    print(f"{info.title} of class {target} {zoo_model.categories[target]!r}{where} -> "
          f"{args.out} ({picture.shape[1]}x{picture.shape[0]})")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``camkit`` and ``python -m camkit``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except UsageError as error:
        message = " ".join(str(error).split())
        print(f"camkit: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    return 0
