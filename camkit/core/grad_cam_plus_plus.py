"""Grad-CAM++ (Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations
for Deep Convolutional Networks", WACV 2018), in the paper's closed form (its eq. 19):

    alpha_ij^kc = g_ij^2 / (2 g_ij^2 + sum_ab A_ab^k g_ij^3),      g = dS^c/dA^k
    w_k^c = sum_ij alpha_ij^kc ReLU(g_ij),                          M^c = ReLU(sum_k w_k^c A^k)

The powers of one gradient stand for the second and third derivatives under the paper's
assumption that the score is Y^c = exp(S^c) of the class logit S^c, so ``target`` should be a
logit (the default).  Where the denominator is zero (g = 0, or 2 g^2 = -sum A g^3) alpha is 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ActivationMap, CallContext


class GradCAMPlusPlus(ActivationMap):
    """Grad-CAM++: channel weights from pixel-wise alphas times the positive gradients."""

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU(sum_k w_k A^k), w_k = sum_ij alpha_ij ReLU(g_ij) (see the module docstring).

        The weights are computed in float64: g^3 times a sum of activations spans many orders of
        magnitude, and float32 would lose the 1e-5 agreement with the formula.
        """
        gradient, activation = context.gradient.double(), context.activation.double()
        squared = gradient.pow(2)
        denominator = 2 * squared + activation.sum(dim=(2, 3), keepdim=True) * squared * gradient
        defined = denominator != 0
        alpha = torch.where(defined, squared / torch.where(defined, denominator, 1), 0)
        weights = (alpha * F.relu(gradient)).sum(dim=(2, 3))
        return F.relu(torch.einsum("bk,bkhw->bhw", weights, activation)).to(context.activation.dtype)
