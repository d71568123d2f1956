"""Gradients of the class score with respect to the input pixels, under a ReLU backward rule
(:mod:`camkit.core.relu_rules`):

* :class:`InputGradient`, the plain gradient dy^c/dx (Simonyan et al., ICLR 2014 workshop);
* :class:`Deconvnet` (Zeiler & Fergus, ECCV 2014): at each ReLU only positive gradients pass;
* :class:`GuidedBackprop` (Springenberg et al., ICLR 2015 workshop): positive gradients where
  the ReLU's input was positive.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import check_input
from .guard import explaining
from .layers import check_model, first_conv_check
from .relu_rules import relu_rule
from .targets import Target, target_scores


class InputGradient:
    """Gradient of the class score y^c with respect to the input pixels, (B, C, H, W).

    Subclasses change only the ReLU backward rule.
    """

    rule = "gradient"

    def __init__(self, model: nn.Module) -> None:
        check_model(model)
        self.model = model

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __call__(self, x: torch.Tensor, target: Target = None) -> torch.Tensor:
        """dy^c/dx under this class's ReLU rule; ``target`` as in :mod:`camkit.core.targets`."""
        check_input(x)
        inputs = x.detach().requires_grad_(True)
        with explaining(self.model, type(self).__name__), torch.enable_grad(), relu_rule(self.model, self.rule) as applied:
            with first_conv_check(self.model):
                output = self.model(inputs)
            scores, _ = target_scores(target, output)
            if applied[0] == 0 and self.rule != "gradient":
                raise RuntimeError(
                    f"{type(self).__name__} found no nn.ReLU / nn.ReLU6 module in the forward pass, so its "
                    "rule cannot be applied (functional F.relu calls cannot be hooked). Replace the "
                    "functional calls with nn.ReLU modules."
                )
            (gradient,) = torch.autograd.grad(scores.sum(), inputs)
        return gradient


class Deconvnet(InputGradient):
    """Deconvnet: at each ReLU pass only positive gradients, g * [g > 0]."""

    rule = "deconvnet"


class GuidedBackprop(InputGradient):
    """Guided Backprop: positive gradients where the input was positive, g * [x > 0] * [g > 0]."""

    rule = "guided"
