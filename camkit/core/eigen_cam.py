"""Eigen-CAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
IJCNN 2020): the layer's activations projected on their first principal component,

    X = A reshaped to (h*w, K), centred over the pixels;   X = U S V^T;   M = ReLU(X v_1)

No gradient and no class: the map is the same for every target.  The sign of v_1 is arbitrary
in an SVD; camkit picks the one that makes X v_1 correlate positively with the mean activation
over the channels (the projection points where the layer is active), then applies the ReLU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ActivationMap, CallContext


def principal_projection(activation: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) -> (B, h, w): the centred activations projected on their first principal
    component, signed to correlate positively with the channel mean."""
    batch, channels, height, width = activation.shape
    pixels = activation.double().flatten(2).transpose(1, 2)  # (B, h*w, K)
    centred = pixels - pixels.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = centred @ vh[:, 0, :, None]  # (B, h*w, 1)
    mean = pixels.mean(dim=2, keepdim=True)
    agreement = ((projection - projection.mean(dim=1, keepdim=True)) * (mean - mean.mean(dim=1, keepdim=True))).sum(dim=1)
    sign = torch.where(agreement < 0, -1.0, 1.0).to(projection.dtype)
    return (projection * sign[:, None]).view(batch, height, width).to(activation.dtype)


class EigenCAM(ActivationMap):
    """Eigen-CAM: the first principal component of the activations; no gradient, no class."""

    needs_gradient = False

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """ReLU of the signed projection on the first principal component."""
        return F.relu(principal_projection(context.activation))
