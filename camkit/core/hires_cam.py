"""HiResCAM (Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
convolutional neural networks", 2020): the gradient multiplies the activation pixel by pixel,

    M^c = ReLU(sum_k dy^c/dA^k * A^k)        (element-wise, then summed over channels)

Where the layer feeds global average pooling and one linear layer, dy^c/dA^k is constant over the
pixels and HiResCAM equals Grad-CAM x Z; behind a flatten + fully connected head (torchvision's
VGG and AlexNet) the gradient varies over the pixels and the two differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ActivationMap, CallContext


class HiResCAM(ActivationMap):
    """HiResCAM: sum over channels of gradient x activation, then ReLU."""

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU(sum_k g^k * A^k)."""
        return F.relu((context.gradient * context.activation).sum(dim=1))
