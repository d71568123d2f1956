"""Integrated Gradients (Sundararajan et al., "Axiomatic Attribution for Deep Networks", ICML 2017):
the input gradient averaged along the straight path from a baseline x' to the input x,

    IG_i(x) = (x_i - x'_i) * (1/m) sum_{k=1..m} dy^c/dx_i (x' + (k/m) (x - x'))

(the paper's right Riemann sum with m steps).  Completeness: sum_i IG_i = y^c(x) - y^c(x') for the
exact integral; the sum's error, reported by :meth:`IntegratedGradients.compute`, falls as the
steps grow.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import baseline_input, check_input, check_positive_int
from .guard import explaining
from .layers import check_model, first_conv_check
from .progress import progress_bar
from .targets import Target, target_scores


@dataclass
class Attribution:
    """Integrated Gradients of one call: the attributions (B, C, H, W) and, per sample, the
    completeness error sum(IG) - (y(x) - y(x')), with the score difference it is measured against."""

    attributions: torch.Tensor
    completeness_error: torch.Tensor
    score_difference: torch.Tensor


class IntegratedGradients:
    """Integrated Gradients with ``steps`` points on the path from ``baseline`` (default: zeros,
    the black image of standardised inputs is not zero: pass it when you mean it).

    A forward pass takes at most ``batch_size`` images (path points x samples, at least one point
    per pass); the result does not depend on it.
    """

    def __init__(self, model: nn.Module, steps: int = 50, baseline: torch.Tensor | float = 0.0, batch_size: int = 32) -> None:
        check_model(model)
        check_positive_int("steps", steps, "points on the path")
        check_positive_int("batch_size", batch_size, "images per forward pass")
        self.model, self.steps, self.baseline, self.batch_size = model, steps, baseline, batch_size

    def __repr__(self) -> str:
        return f"IntegratedGradients(steps={self.steps})"

    def __call__(self, x: torch.Tensor, target: Target = None) -> torch.Tensor:
        """The attributions (B, C, H, W); ``target`` as in :mod:`camkit.core.targets`."""
        return self.compute(x, target).attributions

    def compute(self, x: torch.Tensor, target: Target = None) -> Attribution:
        """Attributions, and how far their sum is from the score difference (completeness)."""
        check_input(x)
        baseline = baseline_input(self.baseline, x)
        with explaining(self.model, type(self).__name__):
            with torch.no_grad(), first_conv_check(self.model):
                end_scores, classes = target_scores(target, self.model(x))
                start_scores, _ = target_scores(target if classes is None else classes, self.model(baseline))
            total = torch.zeros_like(x)
            fractions = torch.arange(1, self.steps + 1, dtype=x.dtype, device=x.device) / self.steps
            with torch.enable_grad():
                points_per_pass = max(1, self.batch_size // len(x))
                for chunk in progress_bar(fractions.split(points_per_pass), "Integrated Gradients", delay=2):
                    points = (baseline[None] + chunk[:, None, None, None, None] * (x - baseline)[None]).flatten(0, 1)
                    points.requires_grad_(True)
                    rows = target if classes is None else classes.repeat(len(chunk))
                    scores, _ = target_scores(rows, self.model(points))
                    (gradient,) = torch.autograd.grad(scores.sum(), points)
                    total += gradient.view(len(chunk), *x.shape).sum(dim=0)
        attributions = (x - baseline) * total / self.steps
        difference = end_scores - start_scores
        error = attributions.flatten(1).sum(dim=1) - difference
        return Attribution(attributions.detach(), error.detach(), difference.detach())
