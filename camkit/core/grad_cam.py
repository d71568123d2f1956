"""Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017):

    alpha_k^c = (1/Z) sum_ij dy^c/dA^k_ij,        M^c = ReLU(sum_k alpha_k^c A^k)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import ActivationMap, CallContext
from .layers import LayerSpec


class GradCAM(ActivationMap):
    """Grad-CAM: each channel weighted by its mean gradient, summed, ReLU.

    ``counterfactual=True`` negates the gradients (the paper's counterfactual explanations):
    the regions whose removal would make the network more confident in class c.
    """

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, counterfactual: bool = False,
                 reshape: object = None) -> None:
        super().__init__(model, layer, reshape)
        self.counterfactual = counterfactual

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU(sum_k alpha_k^c A^k), alpha = spatial mean of dy^c/dA (negated when counterfactual)."""
        alpha = context.gradient.mean(dim=(2, 3))
        if self.counterfactual:
            alpha = -alpha
        return F.relu(torch.einsum("bk,bkhw->bhw", alpha, context.activation))
