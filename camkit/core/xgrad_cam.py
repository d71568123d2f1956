"""XGrad-CAM (Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
CNNs", BMVC 2020): the weights that satisfy the paper's sensitivity and conservation axioms,

    w_k^c = sum_ij (A_ij^k / sum_ab A_ab^k) dy^c/dA_ij^k,          M^c = ReLU(sum_k w_k^c A^k)

A channel whose activations sum to zero gets weight 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ActivationMap, CallContext


class XGradCAM(ActivationMap):
    """XGrad-CAM: each channel weighted by its gradient averaged with the activation as weights."""

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU(sum_k w_k A^k), w_k = sum_ij A_ij g_ij / sum_ab A_ab.

        In float64: before a ReLU a channel's activations can nearly cancel, and the division
        would magnify float32 rounding.
        """
        gradient, activation = context.gradient.double(), context.activation.double()
        total = activation.sum(dim=(2, 3))
        weighted = (gradient * activation).sum(dim=(2, 3))
        weights = torch.where(total != 0, weighted / torch.where(total != 0, total, 1), 0)
        return F.relu(torch.einsum("bk,bkhw->bhw", weights, activation)).to(context.activation.dtype)
