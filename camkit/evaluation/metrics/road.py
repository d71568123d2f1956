"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci and Kasneci, "A Consistent and Efficient
Evaluation Strategy for Attribution Methods", ICML 2022).

A fraction f of the pixels is removed, the most relevant first (MoRF: the model's probability
should fall fast) or the least relevant first (LeRF: it should hardly move), and the removed
pixels are filled in.  Filling them with a constant leaks the map: the shape of the hole tells
the model where the removed pixels were.  ROAD's *noisy linear imputation* fills each removed
pixel with the weighted mean of its 8 neighbours (1/6 for the 4 beside it, 1/12 for the 4 on the
diagonals; removed neighbours are unknowns too, neighbours outside the image count for nothing),

    s_i v_i - sum_{n removed} w_n v_n = sum_{n kept} w_n x_n,      s_i = sum_{n in the image} w_n

one sparse linear system per image and channel, plus Gaussian noise (standard deviation 0.01 in
the paper).  Here the system is solved by conjugate gradients in float64 with convolutions (batched,
on the input's device); the noise comes from a generator seeded with ``seed``.

Which pixels go: the same thresholds as pytorch-grad-cam's ``ROADMostRelevantFirst`` /
``ROADLeastRelevantFirst`` (a quantile with linear interpolation): MoRF removes the pixels whose
map value is at least the (1 - f) quantile, LeRF those at most the f quantile.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...core.base import resize_maps
from ...core.progress import progress_bar
from .confidence import class_probabilities

ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
NEIGHBOUR_WEIGHTS = ((1 / 12, 1 / 6, 1 / 12), (1 / 6, 0.0, 1 / 6), (1 / 12, 1 / 6, 1 / 12))
IMPUTATIONS = ("linear", "zero", "mean")


def road_removed(maps: torch.Tensor, fraction: float, order: str) -> torch.Tensor:
    """(B, H, W) bool: the pixels ROAD removes at ``fraction`` in ``order`` ``"morf"`` or ``"lerf"``."""
    if order not in ("morf", "lerf"):
        raise ValueError(f'order must be "morf" (most relevant first) or "lerf" (least relevant first), got {order!r}.')
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}.")
    flat = maps.flatten(1).double()
    level = 1 - fraction if order == "morf" else fraction
    threshold = torch.quantile(flat, level, dim=1, keepdim=True)
    removed = flat >= threshold if order == "morf" else flat <= threshold
    return removed.view_as(maps)


def linear_imputation(x: torch.Tensor, removed: torch.Tensor, tolerance: float = 1e-10) -> torch.Tensor:
    """``x`` (B, C, H, W) with the ``removed`` (B, H, W) pixels filled by ROAD's linear system
    (the module docstring; no noise), solved by conjugate gradients to ``tolerance`` of the
    right-hand side's norm."""
    batch, channels, height, width = x.shape
    kernel = torch.tensor(NEIGHBOUR_WEIGHTS, dtype=torch.float64, device=x.device).view(1, 1, 3, 3)

    def neighbour_sum(values: torch.Tensor) -> torch.Tensor:
        return F.conv2d(values, kernel, padding=1)  # zero padding: a neighbour outside the image weighs nothing

    unknown = removed[:, None].expand(batch, channels, height, width).reshape(-1, 1, height, width).double()
    values = x.double().reshape(-1, 1, height, width)
    weight_sum = neighbour_sum(torch.ones(1, 1, height, width, dtype=torch.float64, device=x.device))

    def system(u: torch.Tensor) -> torch.Tensor:  # the left-hand side, on the removed pixels only
        return unknown * (weight_sum * u - neighbour_sum(unknown * u))

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(dim=(1, 2, 3), keepdim=True)

    right = unknown * neighbour_sum((1 - unknown) * values)
    solution = torch.zeros_like(right)
    residual, direction = right.clone(), right.clone()
    squared = dot(residual, residual)
    goal = tolerance**2 * dot(right, right).clamp(min=1e-300)
    for _ in range(20 * (height + width)):  # CG on a grid converges in O(side) steps
        if bool((squared <= goal).all()):
            break
        product = system(direction)
        curvature = dot(direction, product)
        step = torch.where(curvature > 0, squared / curvature.clamp(min=1e-300), torch.zeros_like(curvature))
        solution += step * direction
        residual -= step * product
        new_squared = dot(residual, residual)
        direction = residual + torch.where(squared > 0, new_squared / squared.clamp(min=1e-300), 0.0) * direction
        squared = new_squared
    filled = torch.where(unknown.bool(), solution, values)
    return filled.view(batch, channels, height, width).to(x.dtype)


def impute(x: torch.Tensor, removed: torch.Tensor, imputation: str = "linear", noise: float = 0.01,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` with the ``removed`` pixels filled: ``"linear"`` (ROAD's, plus Gaussian ``noise``),
    ``"zero"`` (zeros) or ``"mean"`` (each image's channel means over its kept pixels)."""
    if imputation not in IMPUTATIONS:
        raise ValueError(f"imputation must be one of {', '.join(IMPUTATIONS)}, got {imputation!r}.")
    if removed.shape != (x.shape[0], *x.shape[-2:]):
        raise ValueError(f"removed must be (B, H, W) = {(x.shape[0], *x.shape[-2:])}, got {tuple(removed.shape)}.")
    hole = removed[:, None]
    if imputation == "zero":
        return x.masked_fill(hole, 0.0)
    if imputation == "mean":
        kept = (~hole).to(x.dtype)
        means = (x * kept).sum(dim=(2, 3), keepdim=True) / kept.sum(dim=(2, 3), keepdim=True).clamp(min=1)
        return torch.where(hole, means, x)
    filled = linear_imputation(x, removed)
    if noise:
        draws = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device if generator else "cpu")
        filled = torch.where(hole, filled + noise * draws.to(x.device), filled)
    return filled


def road_curves(model: torch.nn.Module, x: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor | Sequence[int],
                order: str, fractions: Sequence[float] = ROAD_FRACTIONS, imputation: str = "linear",
                noise: float = 0.01, seed: int = 0, batch_size: int = 64, progress: bool = True) -> torch.Tensor:
    """(B, len(fractions)): the probability of each image's class after ROAD removed ``fractions``
    of its pixels in ``order`` (``"morf"`` or ``"lerf"``) and filled them by ``imputation``.

    ``maps`` (B, h, w) are resized bilinearly to the input's size first.  The noise of all
    images and fractions comes from one generator seeded with ``seed``: the same call gives the
    same numbers.  All perturbed images go through the model ``batch_size`` at a time.
    """
    if x.dim() != 4 or maps.dim() != 3 or maps.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (B, C, H, W) and maps (B, h, w) with the same B, got {tuple(x.shape)} "
                         f"and {tuple(maps.shape)}.")
    classes = torch.as_tensor(classes, device=x.device).flatten()
    if classes.numel() != x.shape[0]:
        raise ValueError(f"one class per image: got {classes.numel()} classes for {x.shape[0]} images.")
    maps = resize_maps(maps.to(x.dtype), tuple(x.shape[-2:]))
    generator = torch.Generator().manual_seed(seed)
    perturbed = [impute(x, road_removed(maps, fraction, order), imputation, noise, generator)
                 for fraction in progress_bar(fractions, f"ROAD {order} ({imputation})", enabled=progress, delay=2)]
    inputs = torch.stack(perturbed, dim=1).flatten(0, 1)  # image by image, fraction by fraction
    probabilities = class_probabilities(model, inputs, classes.repeat_interleave(len(fractions)), batch_size)
    return probabilities.view(len(x), len(fractions))
