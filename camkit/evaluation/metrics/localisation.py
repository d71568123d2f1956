"""Scores for maps against ground-truth masks (torch only, batched: maps and masks are (B, H, W)).

:func:`mass_share` measures class discrimination: the share of a map's mass that lies inside the
named object's mask (about one half for a map that does not tell two objects apart).

The *pointing game* (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016)
asks one question per map: does its maximum fall on the object?  A hit is an argmax within
``tolerance_px`` pixels of the object's mask; the paper uses 15 px at 224 x 224, which
:func:`pointing_tolerance` scales to other image sizes.

Three scores look at more of the map than its maximum:

* :func:`energy_pointing_game` (Wang et al., "Score-CAM", CVPR Workshops 2020): the share of the
  map's energy inside the object's bounding box;
* :func:`relevance_mass_accuracy` and :func:`relevance_rank_accuracy` (Arras, Osman and Samek,
  "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural network explanations",
  Information Fusion 2022): the share of the positive relevance inside the mask, and the share of
  the mask covered by the map's K highest pixels, K the mask's size.
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


def _same_shape(maps: torch.Tensor, masks: torch.Tensor, name: str) -> None:
    if maps.shape != masks.shape or maps.dim() != 3:
        raise ValueError(f"{name}: maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must both be (B, H, W).")


def mass_share(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share (B,) of each non-negative map's total mass that lies inside its mask, in [0, 1].

    An all-zero map has no mass to share: its share is NaN, so that it cannot pass for a good map.
    """
    _same_shape(maps, masks, "mass_share")
    if (maps < 0).any():
        raise ValueError("mass_share needs non-negative maps (e.g. normalised CAMs); clamp or shift them first.")
    total = maps.flatten(1).sum(dim=1)
    inside = (maps * masks.to(maps.dtype)).flatten(1).sum(dim=1)
    return inside / total


def bounding_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: each mask's bounding box, filled (all False for an empty mask)."""
    masks = masks.bool()
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (B, H), (B, W): which rows / columns the mask touches

    def span(touched: torch.Tensor) -> torch.Tensor:  # from the first touched index to the last
        index = torch.arange(touched.shape[1], device=touched.device)
        first = torch.where(touched, index, touched.shape[1]).amin(dim=1, keepdim=True)
        last = torch.where(touched, index, -1).amax(dim=1, keepdim=True)
        return (index >= first) & (index <= last)

    return span(rows)[:, :, None] & span(cols)[:, None, :]


def energy_pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share (B,) of each map's energy inside the bounding box of its mask (Score-CAM, section 5.2):

        proportion = sum_{ij in box} L_ij / sum_ij L_ij

    on the non-negative maps the CAM methods return; NaN for an all-zero map.  1 is best; a map
    spread evenly over the image gets the box's share of the image.
    """
    _same_shape(maps, masks, "energy_pointing_game")
    return mass_share(maps, bounding_boxes(masks))


def relevance_mass_accuracy(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share (B,) of each map's positive relevance that lies inside its mask (Arras et al. 2022):

        mass accuracy = sum_{k in GT} max(R_k, 0) / sum_k max(R_k, 0)

    Signed maps (CAM before its ReLU, input gradients) are welcome: negative relevance counts as
    none.  NaN where a map has no positive relevance.
    """
    _same_shape(maps, masks, "relevance_mass_accuracy")
    return mass_share(maps.clamp(min=0), masks)


def relevance_rank_accuracy(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share (B,) of each mask covered by the map's K highest pixels, K the mask's size (Arras et al. 2022):

        rank accuracy = |P_topK  intersected with  GT| / |GT|,      K = |GT|

    Ties at the K-th value are broken by position (row-major, first wins); NaN for an empty mask.
    A map that ranks pixels at random scores about K / (H W) on average.
    """
    _same_shape(maps, masks, "relevance_rank_accuracy")
    flat_masks = masks.flatten(1).bool()
    sizes = flat_masks.sum(dim=1)
    in_top = pixel_ranks(maps) < sizes[:, None]
    return (in_top & flat_masks).sum(dim=1).to(maps.dtype) / sizes.to(maps.dtype)


def pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """(B, H * W) long: each pixel's place when its map is sorted from the highest value down
    (0 for the maximum); equal values keep their row-major order."""
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)
    places = torch.arange(order.shape[1], device=order.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, places)

