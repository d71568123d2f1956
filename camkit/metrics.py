"""Scores for maps against ground truth (torch only).

:func:`mass_share` measures class discrimination: the share of a map's mass that lies inside the
named object's mask (about one half for a map that does not tell two objects apart).

The *pointing game* (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016)
asks one question per map: does its maximum fall on the object?  A hit is an argmax within
``tolerance_px`` pixels of the object's mask; the paper uses 15 px at 224 x 224, which
:func:`pointing_tolerance` scales to other image sizes.
"""

from __future__ import annotations

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
