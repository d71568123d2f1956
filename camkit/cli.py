"""The ``camkit`` command: classify one image, explain a class, save the picture.

    camkit chelsea --model efficientnet_lite0
    camkit photo.jpg --method guided-gradcam --target 'Egyptian cat' --out explained.png
    python -m camkit --help

It prints the top-5 classes with their probabilities and writes a PNG at the model's input
resolution: the map blended over the image as the model saw it (after resizing and cropping),
or, for the guided methods, the input gradient made visible with :func:`camkit.deprocess`.
Problems the user can fix (no such file, not an image, unknown model, layer or class) end with
exit status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from . import samples, zoo
from .guided import GuidedBackprop, GuidedGradCAM
from .image import deprocess, load_image, overlay, to_image
from .methods import CAM, GradCAM, LayerCAM

METHODS = {
    "gradcam": "Grad-CAM",
    "cam": "CAM",
    "layercam": "LayerCAM",
    "guided": "Guided Backprop",
    "guided-gradcam": "Guided Grad-CAM",
}
EXIT_USAGE = 2


class UsageError(Exception):
    """A problem the user can fix; reported in one line with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its help text documents every option)."""
    parser = argparse.ArgumentParser(
        prog="camkit",
        description="Print a model's top-5 classes for an image, explain one class (a class activation "
        "map, or Guided Backprop) and save the picture as PNG.",
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
        help=f"zoo model (default: resnet50): {', '.join(zoo.available())}; efficientnet_lite0 has "
        "ImageNet weights without any download",
    )
    parser.add_argument(
        "--weights", default="auto", choices=zoo.WEIGHT_CHOICES,
        help="imagenet, shapes (camkit's ShapeScenes models), random, or auto (default): ImageNet "
        "weights when cached or downloadable, else shapes",
    )
    parser.add_argument(
        "--method", default="gradcam", choices=METHODS,
        help="gradcam (default), cam (needs global average pooling + one linear layer), layercam, "
        "guided (Guided Backprop, no layer) or guided-gradcam",
    )
    parser.add_argument("--layer", help="dotted module name to explain, e.g. layer4 (default: the zoo's layer for the model)")
    parser.add_argument(
        "--target", default="top1",
        help="class to explain: top1 (default, the predicted class), an index such as 285, or a class name such as 'Egyptian cat'",
    )
    parser.add_argument(
        "--out", default="cam.png",
        help="where to write the PNG (default: cam.png), at the model's input size: the map over the image "
        "as the model saw it (resized and cropped), or for the guided methods the deprocessed gradient",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    return parser


def read_image(source: str) -> np.ndarray:
    """An existing file wins; otherwise ``source`` must name a sample photo."""
    if os.path.exists(source):
        try:
            return load_image(source)
        except (OSError, ValueError) as error:
            raise UsageError(str(error)) from None
    if source in samples.names():
        return samples.load(source)
    raise UsageError(f"No image file {source!r}, and no sample of that name (samples: {', '.join(samples.names())}).")


def select_device(name: str) -> torch.device:
    """The torch device ``name``, refusing CUDA when this machine has none."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"Unknown device {name!r}; use cpu or cuda.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but PyTorch sees no CUDA GPU here; use --device cpu.")
    return device


def load_model(name: str, weights: str, device: torch.device) -> tuple[zoo.ZooModel, list[str]]:
    """The zoo model, and the notes the zoo announced while loading (weights it chose, and why)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            zoo_model = zoo.load(name, weights=weights, device=device)
        except ValueError as error:
            raise UsageError(str(error)) from None
        except RuntimeError as error:  # weights neither cached nor downloadable
            raise UsageError(f"{error} (--model efficientnet_lite0 needs no download.)") from None
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


def explain(
    zoo_model: zoo.ZooModel, method: str, layer: str, x: torch.Tensor, target: int
) -> np.ndarray:
    """The picture to save: an overlay for the map methods, the deprocessed gradient for guided ones."""
    try:
        if method == "guided":
            return to_image(deprocess(GuidedBackprop(zoo_model.model)(x, target)[0]))
        if method == "guided-gradcam":
            return to_image(deprocess(GuidedGradCAM(zoo_model.model, layer)(x, target)[0]))
        map_method = {"gradcam": GradCAM, "cam": CAM, "layercam": LayerCAM}[method]
        cam_map = map_method(zoo_model.model, layer)(x, target)[0]
    except (ValueError, TypeError, RuntimeError) as error:
        raise UsageError(str(error)) from None
    return overlay(zoo_model.picture(x[0]), cam_map)


def run(args: argparse.Namespace) -> None:
    """Everything after parsing; raises :class:`UsageError` for problems the user can fix."""
    image = read_image(args.image)
    device = select_device(args.device)
    zoo_model, notes = load_model(args.model, args.weights, device)
    layer = args.layer or zoo_model.layer
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

    picture = explain(zoo_model, args.method, layer, x, target)
    try:
        Image.fromarray(picture).save(args.out)
    except (OSError, ValueError) as error:
        raise UsageError(f"Cannot write {args.out!r}: {error}") from None
    where = "" if args.method == "guided" else f" at layer {layer!r}"
    print(f"{METHODS[args.method]} of class {target} {zoo_model.categories[target]!r}{where} -> "
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
