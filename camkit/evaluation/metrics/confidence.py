"""The model's confidence with only the map's region of the image left: Average Drop and Increase in
Confidence (Chattopadhay et al., "Grad-CAM++", WACV 2018, section 6.1.1).

Y_i is the model's probability for the explained class on image i, O_i the same on the image
multiplied pixel by pixel with its map (scaled to [0, 1], at the input's resolution):

    Average Drop %           = 100 / N * sum_i max(0, Y_i - O_i) / Y_i      (lower is better)
    Increase in Confidence % = 100 / N * sum_i [Y_i < O_i]                   (higher is better)

The product is taken on the model's input tensor, as pytorch-grad-cam does (``x * map``): after a
mean / std standardization a zero is the mean colour, so what the map hides turns grey.
pytorch-grad-cam's ``DropInConfidence`` is max(0, Y - O), without the division by Y; its
``IncreaseInConfidence`` is this one (both tested).  Both
functions return one value per image, so that their means come with an interval
(:func:`camkit.evaluation.metrics.bootstrap_interval`, :func:`~.proportion_interval`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...core.base import resize_maps
from ...core.guard import eval_mode


def class_probabilities(model: nn.Module, x: torch.Tensor, classes: torch.Tensor | Sequence[int],
                        batch_size: int = 64) -> torch.Tensor:
    """(N,): the softmax probability of ``classes[i]`` for ``x[i]``, one forward pass per
    ``batch_size`` inputs, in eval mode and without gradients (the model's modes are given back)."""
    classes = torch.as_tensor(classes, device=x.device).flatten()
    if classes.numel() != x.shape[0]:
        raise ValueError(f"one class per input: got {classes.numel()} classes for {x.shape[0]} inputs.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    with eval_mode(model), torch.no_grad():
        probabilities = [F.softmax(model(chunk), dim=1) for chunk in x.split(batch_size)]
    return torch.cat(probabilities).gather(1, classes[:, None])[:, 0]


def masked_confidences(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor | Sequence[int],
                       batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Y, O)``, each (B,): the probability of each image's class on ``x`` (B, C, H, W) and on
    ``x * map``, ``maps`` (B, h, w) in [0, 1] resized bilinearly to (H, W)."""
    if x.dim() != 4 or maps.dim() != 3 or maps.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (B, C, H, W) and maps (B, h, w) with the same B, got {tuple(x.shape)} "
                         f"and {tuple(maps.shape)}.")
    if maps.min() < 0 or maps.max() > 1:
        raise ValueError(f"maps must lie in [0, 1] (got {maps.min().item():.3g} to {maps.max().item():.3g}): "
                         "scale them with camkit.normalize_maps, as the methods' default output is.")
    masked = x * resize_maps(maps.to(x.dtype), tuple(x.shape[-2:]))[:, None]
    both = class_probabilities(model, torch.cat([x, masked]), torch.as_tensor(classes).repeat(2), batch_size)
    return both[: len(x)], both[len(x):]


def average_drop(original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Per image, 100 * max(0, Y - O) / Y (B,): their mean is the Average Drop %."""
    return 100 * (original - masked).clamp(min=0) / original


def increase_in_confidence(original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Per image, 100 where O > Y, else 0 (B,): their mean is the Increase in Confidence %."""
    return 100 * (masked > original).to(original.dtype)
