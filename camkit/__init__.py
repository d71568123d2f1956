"""camkit: class activation maps (CAM, Grad-CAM, Guided Backprop, LayerCAM) in plain PyTorch.

>>> cam = camkit.GradCAM(model, layer="layer4")
>>> maps = cam(x)            # (B, H, W) in [0, 1], on x's device
"""

from .guided import Deconvnet, GuidedBackprop, GuidedGradCAM, InputGradient
from .image import deprocess, load_image, overlay, show_maps, to_tensor
from .methods import CAM, ActivationMap, GradCAM, LayerCAM, MapResult, normalize_maps, resize_maps
from .targets import ClassLogit, ClassProbability

__version__ = "0.1.0"

__all__ = [
    "CAM",
    "ActivationMap",
    "ClassLogit",
    "ClassProbability",
    "Deconvnet",
    "GradCAM",
    "GuidedBackprop",
    "GuidedGradCAM",
    "InputGradient",
    "LayerCAM",
    "MapResult",
    "deprocess",
    "load_image",
    "normalize_maps",
    "overlay",
    "resize_maps",
    "show_maps",
    "to_tensor",
]
