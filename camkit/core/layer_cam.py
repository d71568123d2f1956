"""LayerCAM (Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
Localization", IEEE TIP 2021):

    M^c = ReLU(sum_k ReLU(dy^c/dA^k) * A^k)        (element-wise weights)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ActivationMap, CallContext, largest_size, resize_maps


class LayerCAM(ActivationMap):
    """LayerCAM: each activation weighted by its own positive gradient.

    Several layers are fused as in the paper: each map is scaled by tanh(gamma * M / max M)
    (gamma = 2), brought to the largest layer's size, and the element-wise maximum is taken.
    """

    gamma = 2.0

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU(sum_k ReLU(dy^c/dA^k) * A^k)."""
        return F.relu((F.relu(context.gradient) * context.activation).sum(dim=1))

    def combine(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """tanh(gamma * M / max M) per layer, at the largest size, element-wise maximum."""
        size = largest_size(maps)
        scaled = []
        for m in maps:
            peak = m.flatten(1).max(dim=1).values[:, None, None]
            scaled.append(resize_maps(torch.tanh(self.gamma * m / torch.where(peak > 0, peak, 1)), size))
        return torch.stack(scaled).max(dim=0).values
