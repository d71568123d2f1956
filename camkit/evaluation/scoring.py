"""Scoring maps against the ground truth of ShapeScenes: the tables of the reproduction notebooks.

Each method is a *map function* ``(x, classes) -> (B, H, W)`` non-negative maps at x's size,
explaining ``classes[i]`` for sample ``i``: camkit's layer-map methods (CAM, GradCAM, LayerCAM)
are map functions as they are.  :func:`map_methods` gives every method of the registry
(:func:`camkit.available_methods`) in that form; the input-gradient methods' (B, 3, H, W) signed
gradients become a map with :func:`saliency`.  The scene data (``camkit.zoo.shapes``) is read
through its interface (``bank()``, ``scene(i)``, ``objects``), so evaluation needs no zoo import.

* :func:`pointing_hits`: single-object scenes, the map of the true class; a hit when its
  maximum lies within the paper's 15 px at 224 px (same fraction of the side) of the evidence
  (Zhang et al., 2016), scene by scene.  Also whether the model classified each scene right.
  :func:`pointing_scores` (or :func:`hit_rates` of the hits) gives the rates.
* :func:`discrimination_shares`: two-object scenes (two different classes), the map of each
  object's class; of the map's mass that lies on the two objects, the share on the named one.
  A class-discriminative map scores near 1; a map that shows both objects whatever the class
  scores near one half (the named object's share of the two objects' area).  Mass on the
  background does not count: an upsampled 4 x 4 map spills onto it whatever the method.
  :func:`discrimination_scores` (or :func:`mean_shares` of the shares) gives the means.

Both take ``baselines=True`` to score the class-blind maps of :mod:`camkit.evaluation.baselines`
beside the methods; :func:`interval_table` reports rates with Wilson and means with bootstrap
intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core.base import normalize_maps
from ..core.guard import eval_mode
from ..core.registry import INPUT_GRADIENT, available_methods, method_info
from ..image import pixels_to_tensor, standardize
from .baselines import baseline_maps
from . import metrics
from .metrics import bootstrap_interval, mass_share, pointing_game, pointing_tolerance, proportion_interval

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


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def pointing_hits(model: nn.Module, data, methods: dict[str, MapFunction], count: int | None = None,
                  batch_size: int = 50, baselines: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """Scene by scene, on single-object scenes: ``"correct"`` (the model's top-1 is the class) and,
    per method, whether the map of the true class points at the evidence (bool tensors (count,)).

    ``baselines=True`` adds the maps of :data:`camkit.evaluation.baselines.BASELINES` (random from
    a generator seeded with ``seed``), scored by the same code.  ``data`` is a
    :class:`camkit.zoo.shapes.ShapeScenes` or its ``SceneBank``; the model's mode is left as it was.
    """
    bank = data.bank() if hasattr(data, "bank") else data
    count = len(data) if count is None else count
    device = _device(model)
    generator = torch.Generator().manual_seed(seed)
    hits: dict[str, list[torch.Tensor]] = {"correct": [], **{name: [] for name in methods}}
    with eval_mode(model):
        for start in range(0, count, batch_size):
            x, labels, evidence = (t.to(device) for t in bank.batch(start, min(count, start + batch_size)))
            with torch.no_grad():
                hits["correct"].append((model(x).argmax(dim=1) == labels).cpu())
            maps = {name: method(x, labels.tolist()) for name, method in methods.items()}
            if baselines:
                maps.update(baseline_maps(x, evidence, generator))
            for name, batch_maps in maps.items():
                hits.setdefault(name, []).append(pointing_game(batch_maps, evidence, pointing_tolerance(x.shape[-1])).cpu())
    return {name: torch.cat(values) for name, values in hits.items()}


def pointing_scores(model: nn.Module, data, methods: dict[str, MapFunction], count: int | None = None,
                    batch_size: int = 50, baselines: bool = False, seed: int = 0) -> dict[str, float]:
    """Accuracy and, per method, the pointing-game hit rate of :func:`pointing_hits`:
    ``{"accuracy": ..., "scenes": count, <method name>: hit rate, ...}``."""
    return hit_rates(pointing_hits(model, data, methods, count, batch_size, baselines, seed))


def hit_rates(hits: dict[str, torch.Tensor]) -> dict[str, float]:
    """The rates of :func:`pointing_hits`' scene-by-scene hits: ``{"accuracy", "scenes", <map>: rate}``."""
    rates = {name: values.double().mean().item() for name, values in hits.items() if name != "correct"}
    return {"accuracy": hits["correct"].double().mean().item(), "scenes": len(hits["correct"]), **rates}


def discrimination_shares(model: nn.Module, data, methods: dict[str, MapFunction], count: int | None = None,
                          batch_size: int = 25, baselines: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """Per method, each class's map's share on its own object of the map's mass on the two class
    objects, ``mass(named) / (mass(named) + mass(other))``, two values per two-object scene
    (a tensor (2 * count,): scene 0's first object, its second, scene 1's first...).

    A map with no mass on either object tells them apart no better than chance and counts as one
    half.  ``baselines=True`` adds :data:`camkit.evaluation.baselines.BASELINES` (the ceiling
    being the named object's mask).  ``data`` is a two-object :class:`camkit.zoo.shapes.ShapeScenes`;
    the model's mode is left as it was.
    """
    if data.objects != 2:
        raise ValueError(f"Class discrimination needs two-object scenes (ShapeScenes(objects=2)), got objects={data.objects}.")
    count = len(data) if count is None else count
    device, generator = _device(model), torch.Generator().manual_seed(seed)
    shares: dict[str, list[torch.Tensor]] = {name: [] for name in methods}
    with eval_mode(model):
        for start in range(0, count, batch_size):
            scenes = [data.scene(i) for i in range(start, min(count, start + batch_size))]
            x = standardize(pixels_to_tensor(np.stack([s.image for s in scenes]))).to(device)
            masks = torch.from_numpy(np.stack([s.masks[:2] for s in scenes])).to(device)  # (B, 2, H, W)
            on_objects = masks.any(dim=1)
            batch_shares = {name: [] for name in shares}
            for obj in (0, 1):
                classes = [int(s.labels[obj]) for s in scenes]
                maps = {name: method(x, classes) for name, method in methods.items()}
                if baselines:
                    maps.update(baseline_maps(x, masks[:, obj], generator))
                for name, batch_maps in maps.items():
                    share = mass_share(batch_maps * on_objects, masks[:, obj]).nan_to_num(0.5)
                    batch_shares.setdefault(name, []).append(share.cpu())
            for name, (first, second) in batch_shares.items():  # scene by scene: (first, second) object
                shares.setdefault(name, []).append(torch.stack([first, second], dim=1).flatten())
    return {name: torch.cat(values) for name, values in shares.items()}


def discrimination_scores(model: nn.Module, data, methods: dict[str, MapFunction], count: int | None = None,
                          batch_size: int = 25, baselines: bool = False, seed: int = 0) -> dict[str, float]:
    """The mean of :func:`discrimination_shares` per method: ``{"scenes": count, <method name>: mean share, ...}``."""
    return mean_shares(discrimination_shares(model, data, methods, count, batch_size, baselines, seed))


def mean_shares(shares: dict[str, torch.Tensor]) -> dict[str, float]:
    """The means of :func:`discrimination_shares` (two shares a scene): ``{"scenes", <map>: mean share}``."""
    scenes = len(next(iter(shares.values()))) // 2 if shares else 0
    return {"scenes": scenes, **{name: values.double().mean().item() for name, values in shares.items()}}


_TABLE_HEAD = ("| map | rate or mean | 95 % interval | n |", "|---|---:|---|---:|")


def _rate_row(name: str, rate: float, low: float, high: float, count: int) -> str:
    what = "accuracy" if name == "correct" else f"pointing game, {name}"
    return f"| {what} | {rate:.1%} | {low:.1%} – {high:.1%} | {count} |"


def rates_table(rates: dict[str, Sequence[float]], scenes: int) -> str:
    """A Markdown table of rates already reduced to ``{map: (rate, low, high)}`` over ``scenes``
    scenes (``"correct"`` is the accuracy): a training run's ``"table"``, as :func:`interval_table` shows it."""
    return "\n".join([*_TABLE_HEAD, *(_rate_row(name, *interval, scenes) for name, interval in rates.items())]) + "\n"


def interval_table(hits: dict[str, torch.Tensor], shares: dict[str, torch.Tensor] | None = None) -> str:
    """A Markdown table of :func:`pointing_hits` (rates with 95 % Wilson intervals) and
    :func:`discrimination_shares` (mean shares with 95 % bootstrap intervals), one row per map."""
    rows = [*_TABLE_HEAD, *(_rate_row(name, *proportion_interval(values), len(values)) for name, values in hits.items())]
    for name, values in (shares or {}).items():
        mean, low, high = bootstrap_interval(values)
        rows.append(f"| share on the named object, {name} | {mean:.2f} | {low:.2f} – {high:.2f} | {len(values)} |")
    return "\n".join(rows) + "\n"


def summary_markdown(title: str, hits: dict[str, torch.Tensor], shares: dict[str, torch.Tensor],
                     peer_difference: dict[str, float]) -> str:
    """The Markdown table that ends each reproduction notebook (collected into results/summary.md):
    :func:`interval_table` of ``hits`` (:func:`pointing_hits`) and ``shares``
    (:func:`discrimination_shares`), then ``peer_difference``: a library's name -> the largest
    absolute difference between its maps and camkit's on this model."""
    rows = [f"| largest difference to {library} | {value:.1e} | | |" for library, value in peer_difference.items()]
    return "\n".join([f"### {title}", "", interval_table(hits, shares).rstrip("\n"), *rows]) + "\n"


def localisation_scores(maps: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """The scores of (B, H, W) maps against (B, H, W) evidence masks, one value per sample: the
    pointing game (1 or 0, the paper's tolerance at the maps' size), the energy-based pointing
    game, relevance mass and rank accuracy.  The maps are min-max scaled per map first."""
    maps = normalize_maps(maps)
    return {"pointing game": pointing_game(maps, masks, pointing_tolerance(maps.shape[-1])).double(),
            "energy pointing game": metrics.energy_pointing_game(maps, masks),
            "relevance mass accuracy": metrics.relevance_mass_accuracy(maps, masks),
            "relevance rank accuracy": metrics.relevance_rank_accuracy(maps, masks)}


def faithfulness_scores(model: nn.Module, x: torch.Tensor, classes: torch.Tensor, maps: torch.Tensor,
                        steps: int = 16, road_fractions: Sequence[float] = metrics.ROAD_FRACTIONS,
                        road_imputations: Sequence[str] = ("linear",)) -> dict[str, torch.Tensor]:
    """The scores that ask ``model`` instead of a mask, one value per sample: Average Drop and
    Increase in Confidence (in %), the areas under the deletion (toward zeros) and insertion (from
    RISE's blur) curves with ``steps`` steps, and ROAD's mean probability over ``road_fractions``
    removed, most and least relevant first ("ROAD MoRF", "ROAD LeRF": noisy linear imputation,
    seed 0; each other entry of ``road_imputations`` adds "ROAD MoRF (zero)" and so on).
    ``maps`` (B, H, W) explain ``classes`` on ``x``; they are min-max scaled per map first."""
    maps = normalize_maps(maps)
    original, masked = metrics.masked_confidences(model, x, maps, classes)
    scores = {"Average Drop %": metrics.average_drop(original, masked),
              "Increase in Confidence %": metrics.increase_in_confidence(original, masked),
              "deletion AUC": metrics.curve_auc(metrics.deletion_curves(model, x, maps, classes, steps=steps)),
              "insertion AUC": metrics.curve_auc(metrics.insertion_curves(model, x, maps, classes, steps=steps))}
    for imputation in road_imputations:
        for order, title in (("morf", "MoRF"), ("lerf", "LeRF")):
            curves = metrics.road_curves(model, x, maps, classes, order, road_fractions, imputation, progress=False)
            scores[f"ROAD {title}" + ("" if imputation == "linear" else f" ({imputation})")] = curves.mean(dim=1)
    return scores


def metric_scores(model: nn.Module, x: torch.Tensor, classes: torch.Tensor, maps: torch.Tensor,
                  masks: torch.Tensor | None = None, steps: int = 16,
                  road_fractions: Sequence[float] = metrics.ROAD_FRACTIONS) -> dict[str, torch.Tensor]:
    """Every metric of :mod:`camkit.evaluation.metrics` for each map (one value per sample):
    :func:`localisation_scores` when ``masks`` (B, H, W) of the evidence are given, then
    :func:`faithfulness_scores`."""
    scores = localisation_scores(maps, masks) if masks is not None else {}
    return scores | faithfulness_scores(model, x, classes, maps, steps, road_fractions)
