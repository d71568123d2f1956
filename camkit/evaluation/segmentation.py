"""Scoring a segmentation model on ShapeScenes: its masks (mean IoU) and its maps (pointing game).

The per-pixel truth of a single-object scene: class ``label + 1`` on the class object's pixels,
background (0) everywhere else, the distractors included.  "Why did it label this region a
star?" is the map of :class:`camkit.targets.SegmentationRegion` (the class's logits summed over
the pixels the model labels with it); it is scored like a classifier's map, by whether its
maximum lies on the class object (:func:`camkit.metrics.pointing_game`), beside the class-blind
baselines.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.guard import eval_mode
from ..core.targets import SegmentationRegion
from .baselines import baseline_maps
from .metrics import pointing_game, pointing_tolerance
from .scoring import MapFunction


def pixel_classes(labels: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """The per-pixel truth (B, H, W) int64: ``labels[b] + 1`` on ``evidence[b]``, 0 elsewhere."""
    return evidence.long() * (labels[:, None, None] + 1)


def mean_iou(confusion: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Mean intersection over union of a confusion matrix (truth x prediction, pixel counts):
    IoU_c = n_cc / (sum_j n_cj + sum_i n_ic - n_cc), averaged over the classes that occur in the
    truth or the prediction.  Returns ``(mean, per-class IoU with NaN for absent classes)``."""
    confusion = confusion.double()
    intersection = confusion.diagonal()
    union = confusion.sum(dim=0) + confusion.sum(dim=1) - intersection
    iou = torch.where(union > 0, intersection / union.clamp(min=1), torch.full_like(union, float("nan")))
    return iou.nanmean().item(), iou


def segmentation_hits(model: nn.Module, data, methods: dict[str, MapFunction], count: int | None = None,
                      batch_size: int = 50, baselines: bool = False, seed: int = 0,
                      key: str = "out") -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Scene by scene on single-object scenes, for a model returning ``{key: (B, classes, H, W)}``:
    ``"correct"`` (most of the class object's pixels get its class) and, per method, whether the
    map of ``SegmentationRegion(label + 1)`` points at the object (bool tensors (count,)); and the
    pixels' confusion matrix (classes x classes, truth x prediction) for :func:`mean_iou`.

    ``baselines=True`` adds the class-blind maps of :mod:`camkit.evaluation.baselines`.
    ``data`` is a :class:`camkit.zoo.shapes.ShapeScenes` or its ``SceneBank``.
    """
    bank = data.bank() if hasattr(data, "bank") else data
    count = len(data) if count is None else count
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    hits: dict[str, list[torch.Tensor]] = {"correct": [], **{name: [] for name in methods}}
    confusion = None
    with eval_mode(model):
        for start in range(0, count, batch_size):
            x, labels, evidence = (t.to(device) for t in bank.batch(start, min(count, start + batch_size)))
            with torch.no_grad():
                logits = model(x)[key]
            classes = logits.shape[1]
            truth, predicted = pixel_classes(labels, evidence), logits.argmax(dim=1)
            counts = torch.bincount((truth * classes + predicted).flatten(), minlength=classes * classes)
            confusion = counts.reshape(classes, classes).cpu() + (0 if confusion is None else confusion)
            on_object = ((predicted == truth) & evidence).sum(dim=(1, 2))
            hits["correct"].append((2 * on_object > evidence.sum(dim=(1, 2))).cpu())
            target = SegmentationRegion((labels + 1).tolist(), key=key)
            maps = {name: method(x, target) for name, method in methods.items()}
            if baselines:
                maps.update(baseline_maps(x, evidence, generator))
            for name, batch_maps in maps.items():
                hits.setdefault(name, []).append(pointing_game(batch_maps, evidence, pointing_tolerance(x.shape[-1])).cpu())
    return {name: torch.cat(values) for name, values in hits.items()}, confusion
