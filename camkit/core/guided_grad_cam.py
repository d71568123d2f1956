"""Guided Grad-CAM (Selvaraju et al., ICCV 2017): the Grad-CAM map, upsampled bilinearly to the
input's size, times the Guided Backprop gradient, pixel by pixel:

    G^c(x) = upsample(M^c_Grad-CAM) * dy^c/dx |guided
"""

from __future__ import annotations

import torch
from torch import nn

from .grad_cam import GradCAM
from .input_gradient import GuidedBackprop
from .layers import LayerSpec
from .targets import Target


class GuidedGradCAM:
    """Guided Grad-CAM: upsampled Grad-CAM x Guided Backprop, (B, C, H, W).

    With ``normalize=True`` the Grad-CAM map is min-max scaled to [0, 1] first (as in
    pytorch-grad-cam's examples); ``normalize=False`` uses the raw map (as captum).
    """

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, reshape: object = None) -> None:
        self.model = model
        self.grad_cam = GradCAM(model, layer, reshape=reshape)
        self.guided = GuidedBackprop(model)

    @property
    def layer_names(self) -> list[str] | None:
        """Names of the Grad-CAM layers (None until an auto-picked layer has been chosen)."""
        return self.grad_cam.layer_names

    def __repr__(self) -> str:
        return f"GuidedGradCAM(layer={self.layer_names})"

    def __call__(self, x: torch.Tensor, target: Target = None, normalize: bool = True) -> torch.Tensor:
        """upsample(Grad-CAM) x guided gradient of the same classes."""
        result = self.grad_cam.compute(x, target, upsample=True, normalize=normalize)
        classes = result.classes if result.classes is not None else target
        return result.maps[:, None] * self.guided(x, classes)
