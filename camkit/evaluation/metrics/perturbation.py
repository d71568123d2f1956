"""Deletion and insertion (Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for
Explanation of Black-box Models", BMVC 2018, section 4.1).

The pixels are ordered by the map, highest first.  **Deletion** replaces them, a few at a time,
with a baseline (the paper: zeros) and records the probability of the explained class after each
step; **insertion** starts from the baseline (the paper: a blurred copy of the image) and puts the
pixels back in the same order.  With n pixels and s steps, the first round(k n / s) pixels are
changed after step k, so a curve has s + 1 points p_0 ... p_s over the fraction changed
0, 1/s, ..., 1, and its area by the trapezoid rule is

    AUC = (1 / s) * (p_0 / 2 + p_1 + ... + p_(s-1) + p_s / 2)

A faithful map makes the deletion curve fall fast (low AUC) and the insertion curve rise fast
(high AUC).  Every channel of a pixel changes together; equal map values keep row-major order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms.functional import gaussian_blur

from ...core.base import resize_maps
from ...core.progress import progress_bar
from .confidence import class_probabilities
from .localisation import pixel_ranks

Baseline = float | torch.Tensor | Callable[[torch.Tensor], torch.Tensor]


def rise_blur(x: torch.Tensor) -> torch.Tensor:
    """RISE's insertion baseline: a Gaussian blur with an 11 px kernel and sigma 5."""
    return gaussian_blur(x, kernel_size=[11, 11], sigma=[5.0, 5.0])


def perturbation_curves(model: torch.nn.Module, x: torch.Tensor, maps: torch.Tensor,
                        classes: torch.Tensor | Sequence[int], mode: str, baseline: Baseline, steps: int = 16,
                        batch_size: int = 64, progress: bool = True) -> torch.Tensor:
    """(B, steps + 1): the class probability of each image after 0, 1, ..., ``steps`` steps of
    ``mode`` ``"deletion"`` or ``"insertion"``.

    ``maps`` (B, h, w) are resized bilinearly to the input's (H, W) before ranking the pixels.
    ``baseline``: a number, a tensor that broadcasts to ``x``, or a function of ``x`` (e.g.
    :func:`rise_blur`).  The perturbed inputs of all images and steps go through the model
    ``batch_size`` at a time (the copies of several images share a pass); the model's modes are
    given back.
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f'mode must be "deletion" or "insertion", got {mode!r}.')
    if x.dim() != 4 or maps.dim() != 3 or maps.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (B, C, H, W) and maps (B, h, w) with the same B, got {tuple(x.shape)} "
                         f"and {tuple(maps.shape)}.")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    classes = torch.as_tensor(classes, device=x.device).flatten()
    if classes.numel() != x.shape[0]:
        raise ValueError(f"one class per image: got {classes.numel()} classes for {x.shape[0]} images.")
    filler = baseline(x) if callable(baseline) else torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    filler = filler.expand_as(x)
    height, width = x.shape[-2:]
    ranks = pixel_ranks(resize_maps(maps.to(x.dtype), (height, width))).view(-1, 1, height, width)  # (B, 1, H, W)
    counts = torch.tensor([round(k * height * width / steps) for k in range(steps + 1)], device=x.device)
    per_pass = max(1, batch_size // (steps + 1))  # images whose perturbed copies fill about one batch
    curves = []
    for first in progress_bar(range(0, len(x), per_pass), f"{mode} curves", enabled=progress, delay=2):
        chunk = slice(first, first + per_pass)
        changed = ranks[chunk, None] < counts.view(1, -1, 1, 1, 1)  # (images, steps + 1, 1, H, W)
        start, end = (x[chunk], filler[chunk]) if mode == "deletion" else (filler[chunk], x[chunk])
        inputs = torch.where(changed, end[:, None], start[:, None]).flatten(0, 1)  # image by image, step by step
        curves.append(class_probabilities(model, inputs, classes[chunk].repeat_interleave(steps + 1), batch_size))
    return torch.cat(curves).view(len(x), steps + 1)


def deletion_curves(model: torch.nn.Module, x: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor | Sequence[int],
                    baseline: Baseline = 0.0, steps: int = 16, batch_size: int = 64) -> torch.Tensor:
    """Deletion (B, steps + 1), by default toward zeros as in RISE; see :func:`perturbation_curves`."""
    return perturbation_curves(model, x, maps, classes, "deletion", baseline, steps, batch_size)


def insertion_curves(model: torch.nn.Module, x: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor | Sequence[int],
                     baseline: Baseline = rise_blur, steps: int = 16, batch_size: int = 64) -> torch.Tensor:
    """Insertion (B, steps + 1), by default from RISE's blurred image; see :func:`perturbation_curves`."""
    return perturbation_curves(model, x, maps, classes, "insertion", baseline, steps, batch_size)


def curve_auc(curves: torch.Tensor) -> torch.Tensor:
    """(B,): the trapezoid area of each curve (B, s + 1) over the fraction 0, 1/s, ..., 1."""
    if curves.dim() != 2 or curves.shape[1] < 2:
        raise ValueError(f"curves must be (B, steps + 1) with at least 2 points, got {tuple(curves.shape)}.")
    steps = curves.shape[1] - 1
    return (curves.sum(dim=1) - (curves[:, 0] + curves[:, -1]) / 2) / steps
