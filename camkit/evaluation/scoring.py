"""Scoring maps against the ground truth of ShapeScenes: the tables of the reproduction notebooks.

Each method is a *map function* ``(x, classes) -> (B, H, W)`` non-negative maps at x's size,
explaining ``classes[i]`` for sample ``i``: camkit's layer-map methods (CAM, GradCAM, LayerCAM)
are map functions as they are.  :func:`map_methods` gives every method of the registry
(:func:`camkit.available_methods`) in that form; the input-gradient methods' (B, 3, H, W) signed
gradients become a map with :func:`saliency`.  The scene data (``camkit.zoo.shapes``) is read
through its interface (``bank()``, ``scene(i)``, ``objects``), so evaluation needs no zoo import.

* :func:`pointing_scores`: single-object scenes, the map of the true class; a hit when its
  maximum lies within the paper's 15 px at 224 px (same fraction of the side) of the object
  (Zhang et al., 2016).  Also the model's accuracy on those scenes.
* :func:`discrimination_scores`: two-object scenes (two different classes), the map of each
  object's class; of the map's mass that lies on the two objects, the share on the named one.
  A class-discriminative map scores near 1; a map that shows both objects whatever the class
  scores near one half (the named object's share of the two objects' area).  Mass on the
  background does not count: an upsampled 4 x 4 map spills onto it whatever the method.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..core.guard import preserved_model_state
from ..core.registry import INPUT_GRADIENT, available_methods, method_info
from ..image import pixels_to_tensor, standardize
from .metrics import mass_share, pointing_game, pointing_tolerance

MapFunction = Callable[[torch.Tensor, list[int]], torch.Tensor]


def saliency(gradients: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) signed input gradients -> (B, H, W) map: the largest |value| over channels
    (the usual way to show Guided Backprop as one map, Simonyan et al. 2014)."""
    return gradients.abs().amax(dim=1)


def map_function(name: str, model: nn.Module, layer: str | None) -> MapFunction:
    """The registered method ``name`` as a map function (input gradients through :func:`saliency`)."""
    info = method_info(name)
    method = info.create(model, layer if info.takes_layer else None)
    if info.kind == INPUT_GRADIENT:
        return lambda x, classes: saliency(method(x, classes))
    return method


def map_methods(model: nn.Module, layer: str, with_cam: bool = True,
                names: Sequence[str] | None = None) -> dict[str, MapFunction]:
    """Title -> map function of every registered method (or of ``names``) at ``layer``.

    ``with_cam=False`` leaves CAM out (it needs global average pooling and one linear layer).
    Left out unless named: the counterfactual Grad-CAM (it explains the other classes) and the
    methods that run the model once per channel (Ablation-CAM: hundreds of passes per scene).
    """
    if names is None:
        names = [n for n in available_methods() if n != "gradcam-counterfactual" and not method_info(n).per_channel]
    return {method_info(n).title: map_function(n, model, layer) for n in names if with_cam or n != "cam"}


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode during the block; its modes (and flags) given back afterwards."""
    with preserved_model_state(model):
        model.eval()
        yield


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def pointing_scores(model: nn.Module, data, methods: dict[str, MapFunction],
                    count: int | None = None, batch_size: int = 50) -> dict[str, float]:
    """Accuracy and, per method, the pointing-game hit rate on single-object scenes.

    ``data`` is a :class:`camkit.zoo.shapes.ShapeScenes` or its ``SceneBank``; the model's mode is
    left as it was.  Returns ``{"accuracy": ..., "scenes": count, <method name>: hit rate, ...}``.
    """
    bank = data.bank() if hasattr(data, "bank") else data
    count = len(data) if count is None else count
    device = _device(model)
    with eval_mode(model):
        return _pointing_scores(model, bank, methods, count, batch_size, device)


def _pointing_scores(model: nn.Module, bank, methods: dict[str, MapFunction], count: int, batch_size: int,
                     device: torch.device) -> dict[str, float]:
    correct = 0
    hits = dict.fromkeys(methods, 0)
    for start in range(0, count, batch_size):
        x, labels, masks = (t.to(device) for t in bank.batch(start, min(count, start + batch_size)))
        with torch.no_grad():
            correct += int((model(x).argmax(dim=1) == labels).sum())
        tolerance = pointing_tolerance(x.shape[-1])
        for name, method in methods.items():
            hits[name] += int(pointing_game(method(x, labels.tolist()), masks, tolerance).sum())
    return {"accuracy": correct / count, "scenes": count, **{name: n / count for name, n in hits.items()}}


def discrimination_scores(model: nn.Module, data, methods: dict[str, MapFunction],
                          count: int | None = None, batch_size: int = 25) -> dict[str, float]:
    """Per method, the mean share of each class's map on its own object, of the map's mass on the
    two objects (two-object scenes): ``mass(named) / (mass(named) + mass(other))``.

    Both objects of every scene are explained, so each scene gives two shares; a map with no
    mass on either object tells them apart no better than chance and counts as one half.
    ``data`` is a two-object :class:`camkit.zoo.shapes.ShapeScenes`; the model's mode is left as it was.
    Returns ``{"scenes": count, <method name>: mean share, ...}``.
    """
    if data.objects != 2:
        raise ValueError(f"discrimination_scores needs two-object scenes (ShapeScenes(objects=2)), got objects={data.objects}.")
    count = len(data) if count is None else count
    with eval_mode(model):
        return {"scenes": count, **_discrimination_shares(data, methods, count, batch_size, _device(model))}


def _discrimination_shares(data, methods: dict[str, MapFunction], count: int, batch_size: int,
                           device: torch.device) -> dict[str, float]:
    shares: dict[str, list[torch.Tensor]] = {name: [] for name in methods}
    for start in range(0, count, batch_size):
        scenes = [data.scene(i) for i in range(start, min(count, start + batch_size))]
        x = standardize(pixels_to_tensor(np.stack([s.image for s in scenes]))).to(device)
        masks = torch.from_numpy(np.stack([s.masks for s in scenes])).to(device)  # (B, 2, H, W)
        on_objects = masks.any(dim=1)
        for obj in (0, 1):
            classes = [int(s.labels[obj]) for s in scenes]
            for name, method in methods.items():
                share = mass_share(method(x, classes) * on_objects, masks[:, obj])
                shares[name].append(share.nan_to_num(0.5))
    return {name: float(torch.cat(values).mean()) for name, values in shares.items()}


def summary_markdown(title: str, pointing: dict[str, float], discrimination: dict[str, float],
                     peer_difference: dict[str, float]) -> str:
    """The Markdown table that ends each reproduction notebook (collected into results/summary.md).

    ``pointing`` and ``discrimination`` are the dicts of :func:`pointing_scores` and
    :func:`discrimination_scores`; ``peer_difference`` maps a library's name to the largest
    absolute difference between its maps and camkit's on this model.
    """
    rows = [f"| test accuracy ({pointing['scenes']} single-object scenes) | {pointing['accuracy']:.1%} |"]
    rows += [f"| pointing game, {name} | {value:.1%} |" for name, value in pointing.items()
             if name not in ("accuracy", "scenes")]
    rows += [f"| share on the named object of the map's mass on both objects ({discrimination['scenes']} "
             f"two-object scenes), {name} "
             f"| {value:.2f} |" for name, value in discrimination.items() if name != "scenes"]
    rows += [f"| largest difference to {library} | {value:.1e} |" for library, value in peer_difference.items()]
    return "\n".join([f"### {title}", "", "| measure | value |", "|---|---|", *rows]) + "\n"
