"""Scores for maps against ground truth (torch only).

:func:`mass_share` measures class discrimination: the share of a map's mass that lies inside the
named object's mask (about one half for a map that does not tell two objects apart).

The *pointing game* (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016)
asks one question per map: does its maximum fall on the object?  A hit is an argmax within
``tolerance_px`` pixels of the object's mask; the paper uses 15 px at 224 x 224, which
:func:`pointing_tolerance` scales to other image sizes.
"""

from __future__ import annotations

import math

import torch

PAPER_TOLERANCE_PX = 15
PAPER_IMAGE_SIZE = 224


def pointing_tolerance(size: int) -> float:
    """The paper's 15 px at 224 px, as the same fraction of the side of a ``size`` px image."""
    return PAPER_TOLERANCE_PX * size / PAPER_IMAGE_SIZE


def argmax_points(maps: torch.Tensor) -> torch.Tensor:
    """(row, col) of each map's maximum, (B, 2) long; ties go to the first in row-major order."""
    if maps.dim() != 3:
        raise ValueError(f"maps must have shape (B, H, W), got {tuple(maps.shape)}.")
    flat = maps.flatten(1).argmax(dim=1)
    width = maps.shape[-1]
    return torch.stack([flat // width, flat % width], dim=1)


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance_px: float = PAPER_TOLERANCE_PX) -> torch.Tensor:
    """Hits (B,) bool: True where the map's argmax lies within ``tolerance_px`` of the mask.

    Args:
        maps: (B, H, W) maps at the image's resolution (e.g. ``camkit.GradCAM(...)(x)``).
        masks: (B, H, W) bool masks of the objects, same size as the maps.
        tolerance_px: distance in pixels (Euclidean, between pixel centres); 0 asks for the
            argmax to lie on the mask itself.  See :func:`pointing_tolerance`.
    """
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must have the same shape (B, H, W).")
    points = argmax_points(maps).to(masks.device)
    height, width = masks.shape[-2:]
    rows = torch.arange(height, device=masks.device).view(1, -1, 1)
    cols = torch.arange(width, device=masks.device).view(1, 1, -1)
    squared = (rows - points[:, 0, None, None]) ** 2 + (cols - points[:, 1, None, None]) ** 2
    inside = masks.bool() & (squared <= tolerance_px**2)
    return inside.flatten(1).any(dim=1)


def mass_share(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share (B,) of each non-negative map's total mass that lies inside its mask, in [0, 1].

    An all-zero map has no mass to share: its share is NaN, so that it cannot pass for a good map.
    """
    if maps.shape != masks.shape or maps.dim() != 3:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must both be (B, H, W).")
    if (maps < 0).any():
        raise ValueError("mass_share needs non-negative maps (e.g. normalised CAMs); clamp or shift them first.")
    total = maps.flatten(1).sum(dim=1)
    inside = (maps * masks.to(maps.dtype)).flatten(1).sum(dim=1)
    return inside / total


def mean_interval(values: torch.Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` (1-D, NaNs dropped) and its normal-approximation
    confidence interval, mean +- z * sd / sqrt(n) (z = 1.96: 95 %; fine from about 30 values).

    For a comparison of two methods on the same scenes, pass the per-scene differences: the
    interval of the mean difference is far narrower than the two intervals side by side.
    """
    values = values.detach().double().flatten()
    values = values[~values.isnan()]
    if values.numel() < 2:
        raise ValueError(f"mean_interval needs at least 2 values that are not NaN, got {values.numel()}.")
    mean = values.mean().item()
    half = z * values.std().item() / math.sqrt(values.numel())
    return mean, mean - half, mean + half


def proportion_interval(hits: torch.Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """``(rate, low, high)``: the hit rate of boolean ``hits`` and its Wilson score interval
    (Wilson, JASA 1927; z = 1.96: 95 %), which stays inside [0, 1] also at rates of 0 or 1.

    With k hits of n, p = k / n: centre (p + z^2 / 2n) / (1 + z^2 / n), half-width
    z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2).
    """
    n = hits.numel()
    if n == 0:
        raise ValueError("proportion_interval needs at least one hit or miss.")
    p = hits.detach().double().mean().item()
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return p, centre - half, centre + half


def bootstrap_interval(values: torch.Tensor, resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` (1-D, NaNs dropped) and its percentile
    bootstrap interval (Efron 1979): the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of
    the means of ``resamples`` resamples drawn with replacement, from a generator seeded with ``seed``.

    Unlike :func:`mean_interval` it assumes no normal mean, which suits shares piled up near 0 or 1.
    """
    values = values.detach().double().flatten().cpu()
    values = values[~values.isnan()]
    if values.numel() < 2:
        raise ValueError(f"bootstrap_interval needs at least 2 values that are not NaN, got {values.numel()}.")
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(values), (resamples, len(values)), generator=generator)
    means = values[picks].mean(dim=1)
    tails = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    low, high = torch.quantile(means, tails).tolist()
    return values.mean().item(), low, high
