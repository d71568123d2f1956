"""The model randomisation sanity check (Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim,
"Sanity Checks for Saliency Maps", NeurIPS 2018).

If a map explains what the network learned, destroying the learned weights must change it.
*Cascading randomisation* re-initialises the model's parts from the top down, one step after
another (on a copy: the model itself is not touched), recomputes the maps after every step and
compares each with the trained model's map:

* Spearman's rank correlation: the Pearson correlation of the two maps' pixel ranks (tied values
  share their mean rank, as in ``scipy.stats.spearmanr``);
* SSIM (Wang, Bovik, Sheikh and Simoncelli, IEEE TIP 2004), the mean over 7 x 7 windows of

      SSIM(a, b) = (2 mu_a mu_b + C1) (2 sigma_ab + C2) / ((mu_a^2 + mu_b^2 + C1) (sigma_a^2 + sigma_b^2 + C2))

  with C1 = (0.01 R)^2, C2 = (0.03 R)^2 for maps of range R, sample (co)variances and only the
  windows that lie inside the map: ``skimage.metrics.structural_similarity``'s defaults.

A map that stays alike while the weights go (rank correlation near 1) depends on the image more
than on what the model learned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...core.progress import progress_bar

RESET_TYPES = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.LayerNorm)


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """(B, N) float64 ranks 0 ... N - 1 of each row, tied values sharing their mean rank."""
    order = values.argsort(dim=1, stable=True)
    ranks = torch.empty(values.shape, dtype=torch.float64, device=values.device)
    for row, (sorted_row, where) in enumerate(zip(values.gather(1, order), order)):
        _, group, counts = torch.unique_consecutive(sorted_row, return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).double()
        mean_rank = ends - (counts.double() + 1) / 2  # a group at places start ... end - 1 shares their mean
        ranks[row, where] = mean_rank[group]
    return ranks


def spearman_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,): Spearman's rank correlation of each pair of maps (B, H, W) (or (B, N)), ties averaged."""
    if a.shape != b.shape:
        raise ValueError(f"maps {tuple(a.shape)} and {tuple(b.shape)} must have the same shape.")
    ranks_a, ranks_b = _ranks(a.flatten(1)), _ranks(b.flatten(1))
    centred_a, centred_b = ranks_a - ranks_a.mean(dim=1, keepdim=True), ranks_b - ranks_b.mean(dim=1, keepdim=True)
    return (centred_a * centred_b).sum(dim=1) / (centred_a.norm(dim=1) * centred_b.norm(dim=1))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, window: int = 7) -> torch.Tensor:
    """(B,): the mean structural similarity of each pair of maps (B, H, W) (module docstring)."""
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"maps {tuple(a.shape)} and {tuple(b.shape)} must both be (B, H, W).")
    if min(a.shape[-2:]) < window:
        raise ValueError(f"maps of {tuple(a.shape[-2:])} are smaller than the {window} x {window} window.")
    a, b = a.double()[:, None], b.double()[:, None]

    def local_mean(values: torch.Tensor) -> torch.Tensor:  # over the windows that lie inside the map
        return F.avg_pool2d(values, window, stride=1)

    mean_a, mean_b = local_mean(a), local_mean(b)
    sample = window**2 / (window**2 - 1)
    var_a = sample * (local_mean(a * a) - mean_a**2)
    var_b = sample * (local_mean(b * b) - mean_b**2)
    covariance = sample * (local_mean(a * b) - mean_a * mean_b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    similarity = ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)
                  / ((mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)))
    return similarity.mean(dim=(1, 2, 3))


def randomize(model: nn.Module, part: str) -> None:
    """Re-initialise, in place, every convolution, linear and normalisation layer of the submodule
    ``part`` with PyTorch's own initialisation (``reset_parameters``; draws from torch's generator)."""
    for module in model.get_submodule(part).modules():
        if isinstance(module, RESET_TYPES):
            module.reset_parameters()


def cascading_randomization(model: nn.Module, steps: Mapping[str, Sequence[str]],
                            maps: Callable[[nn.Module], Mapping[str, torch.Tensor]], seed: int = 0,
                            progress: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """The maps of a copy of ``model`` as trained and after each step of cascading randomisation.

    ``steps`` names each step and the parts (submodule names) it randomises, top first, e.g.
    ``{"classifier": ["classifier"], "head": ["head"], ...}``; every step keeps the ones before.
    ``maps(model)`` returns the maps to compare, by method name.  The draws come from torch's
    generator seeded with ``seed`` inside the call; its state outside is given back.
    Returns ``{"trained": maps, step: maps, ...}``.
    """
    copied = copy.deepcopy(model)
    history = {"trained": dict(maps(copied))}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for step, parts in progress_bar(steps.items(), "cascading randomisation", enabled=progress, delay=2):
            for part in parts:
                randomize(copied, part)
            history[step] = dict(maps(copied))
    return history


def randomization_scores(history: Mapping[str, Mapping[str, torch.Tensor]],
                         data_range: float = 1.0) -> dict[str, dict[str, tuple[float, float]]]:
    """``{step: {method: (rank correlation, SSIM)}}`` of each step's map against the trained one
    (single maps (H, W) or (1, H, W); a batch is averaged)."""
    trained = history["trained"]
    scores = {}
    for step, step_maps in history.items():
        if step == "trained":
            continue
        scores[step] = {}
        for method, map_ in step_maps.items():
            a, b = trained[method].reshape(-1, *trained[method].shape[-2:]), map_.reshape(-1, *map_.shape[-2:])
            scores[step][method] = (spearman_correlation(a, b).mean().item(), ssim(a, b, data_range).mean().item())
    return scores
