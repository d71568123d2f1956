"""Maps that know nothing of the class, to score beside every method: a method is only as good
as its margin over them.

* ``random``: uniform noise; its pointing rate is the share of the image near the evidence.
* ``centre``: a Gaussian at the image centre (sigma a quarter of the side): the photographer's prior.
* ``edges``: the input's Sobel edge magnitude, sqrt(sum over channels of (S_x * x)^2 + (S_y * x)^2)
  with replicated borders: a map that finds every salient object, evidence or not.
* ``evidence``: the ground-truth evidence mask itself, the ceiling of every score.

:func:`random_weights` gives the other reference, a method run on the same architecture with
freshly initialised weights (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):
a map that survives the randomisation shows the input, not what the model learned.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

BASELINES: tuple[str, ...] = ("random", "centre", "edges", "evidence")
"""The names of :func:`baseline_maps`, in table order."""

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def edge_maps(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) input -> (B, H, W) Sobel gradient magnitude over all channels."""
    kernels = torch.stack([_SOBEL, _SOBEL.T]).to(x)[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    channels = x.shape[1]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")  # no false edge at the border
    gradients = F.conv2d(padded, kernels.repeat(channels, 1, 1, 1), groups=channels)  # (B, 2C, H, W)
    return gradients.pow(2).sum(dim=1).sqrt()


def centre_maps(x: torch.Tensor, sigma_fraction: float = 0.25) -> torch.Tensor:
    """(B, H, W) Gaussian centred on the image, sigma = ``sigma_fraction`` of the shorter side."""
    height, width = x.shape[-2:]
    sigma = sigma_fraction * min(height, width)
    rows = torch.arange(height, device=x.device, dtype=torch.float32) - (height - 1) / 2
    cols = torch.arange(width, device=x.device, dtype=torch.float32) - (width - 1) / 2
    gaussian = torch.exp(-(rows[:, None] ** 2 + cols[None] ** 2) / (2 * sigma**2))
    return gaussian.expand(len(x), height, width).clone()


def random_maps(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, H, W) uniform noise from ``generator`` (a CPU generator; moved to x's device)."""
    return torch.rand((len(x), *x.shape[-2:]), generator=generator).to(x.device)


def baseline_maps(x: torch.Tensor, evidence: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The maps of :data:`BASELINES` for a batch: name -> (B, H, W) float, on x's device."""
    return {
        "random": random_maps(x, generator),
        "centre": centre_maps(x),
        "edges": edge_maps(x.detach()).float(),
        "evidence": evidence.to(x.device, torch.float32),
    }


def random_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every parameter and buffer re-initialised by its module's own
    ``reset_parameters`` (``_reset_parameters`` for attention, and ``reset_running_stats``), seeded;
    ``model`` and torch's global random state are left as they were.  A parameter that a module
    holds without such a method (a vision transformer's class token and position embedding) keeps
    its trained value."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in fresh.modules():
            for reset in ("reset_parameters", "_reset_parameters", "reset_running_stats"):  # the middle: attention
                if hasattr(module, reset):
                    getattr(module, reset)()
    return fresh
