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
the paper).  Here each image's system is factorised once (sparse LU, SciPy) and solved for all
channels; the noise comes from a generator seeded with ``seed``.

Which pixels go: the same thresholds as pytorch-grad-cam's ``ROADMostRelevantFirst`` /
``ROADLeastRelevantFirst`` (a quantile with linear interpolation): MoRF removes the pixels whose
map value is at least the (1 - f) quantile, LeRF those at most the f quantile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

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


def linear_imputation(x: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) with the ``removed`` (B, H, W) pixels filled by ROAD's linear system
    (the module docstring; no noise): one sparse system per image, all channels solved with one
    LU factorisation (SciPy, on the CPU, as ROAD's own code does); the result is on x's device."""
    batch, channels, height, width = x.shape
    filled = x.detach().clone()
    for image in range(batch):
        hole = removed[image].flatten().cpu().numpy()
        unknown = np.flatnonzero(hole)
        if unknown.size == 0:
            continue
        values = x[image].detach().reshape(channels, -1).double().cpu().numpy()
        place = np.full(hole.size, -1)
        place[unknown] = np.arange(unknown.size)  # the unknown's column in the system
        rows, cols = np.divmod(unknown, width)
        weight_sum, right = np.zeros(unknown.size), np.zeros((unknown.size, channels))
        entries, entry_rows, entry_cols = [], [], []
        for d_row, weights in zip((-1, 0, 1), NEIGHBOUR_WEIGHTS):
            for d_col, weight in zip((-1, 0, 1), weights):
                if weight == 0:
                    continue
                inside = (rows + d_row >= 0) & (rows + d_row < height) & (cols + d_col >= 0) & (cols + d_col < width)
                equation = np.flatnonzero(inside)  # a neighbour outside the image weighs nothing
                neighbour = (rows[inside] + d_row) * width + cols[inside] + d_col
                weight_sum[equation] += weight
                also_unknown = hole[neighbour]
                entry_rows.append(equation[also_unknown])
                entry_cols.append(place[neighbour[also_unknown]])
                entries.append(np.full(int(also_unknown.sum()), -weight))
                right[equation[~also_unknown]] += weight * values[:, neighbour[~also_unknown]].T
        diagonal = np.arange(unknown.size)
        system = sparse.csc_matrix((np.concatenate([*entries, weight_sum]),
                                    (np.concatenate([*entry_rows, diagonal]), np.concatenate([*entry_cols, diagonal]))),
                                   shape=(unknown.size, unknown.size))
        solution = sparse_linalg.splu(system).solve(right)  # (unknowns, channels)
        filled[image].view(channels, -1)[:, torch.from_numpy(unknown).to(x.device)] = (
            torch.from_numpy(solution.T).to(device=x.device, dtype=x.dtype))
    return filled


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
        draws = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)  # drawn on the CPU: any device, same noise
        filled = torch.where(hole, filled + noise * draws, filled)
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
