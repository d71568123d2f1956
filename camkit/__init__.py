"""camkit: class activation maps (CAM, Grad-CAM and its variants, Score-CAM, Ablation-CAM, Eigen-CAM, LayerCAM),
Guided Backprop, SmoothGrad and Integrated Gradients, in plain PyTorch.

>>> cam = camkit.GradCAM(model, layer="layer4")
>>> maps = cam(x)            # (B, H, W) in [0, 1], on x's device

Layout: :mod:`camkit.core` (the methods and what they share), :mod:`camkit.image` (numpy in and
pictures out), :mod:`camkit.zoo` (models, ShapeScenes, training, sample photos),
:mod:`camkit.evaluation` (metrics and scoring) and :mod:`camkit.apps` (the CLI and the explorer).
"""

import importlib
from types import ModuleType

from .core.ablation_cam import AblationCAM
from .core.base import ActivationMap, CallContext, MapResult, normalize_maps, resize_maps
from .core.cam import CAM
from .core.eigen_cam import EigenCAM
from .core.grad_cam import GradCAM
from .core.grad_cam_plus_plus import GradCAMPlusPlus
from .core.guided_grad_cam import GuidedGradCAM
from .core.hires_cam import HiResCAM
from .core.input_gradient import Deconvnet, GuidedBackprop, InputGradient
from .core.integrated_gradients import Attribution, IntegratedGradients
from .core.layer_cam import LayerCAM
from .core.score_cam import ScoreCAM
from .core.smooth_grad import SmoothGrad
from .core.xgrad_cam import XGradCAM
from .core.registry import MethodInfo, available_methods, method_info, register
from .core.reshape import channels_last, tokens
from .core.targets import BinaryLogit, ClassLogit, ClassProbability, LabelProbability, RegressionOutput, SegmentationRegion
from .image import deprocess, load_image, outline, overlay, show_maps, to_tensor

__version__ = "0.1.0"

_SHORT_NAMES = {
    "zoo": "camkit.zoo",
    "samples": "camkit.zoo.samples",
    "efficientnet": "camkit.zoo.efficientnet",
    "shapes": "camkit.zoo.shapes",
    "training": "camkit.zoo.training",
    "targets": "camkit.targets",
    "evaluation": "camkit.evaluation",
    "metrics": "camkit.evaluation.metrics",
    "explorer": "camkit.apps.explorer",
    "cli": "camkit.apps.cli",
}
"""``from camkit import samples, zoo`` and ``camkit.metrics.pointing_game`` keep working: the
modules around the core are imported on first use (the zoo's and the explorer's dependencies are
optional extras), under their short names."""


def __getattr__(name: str) -> ModuleType:
    if name in _SHORT_NAMES:
        return importlib.import_module(_SHORT_NAMES[name])
    raise AttributeError(f"module 'camkit' has no attribute {name!r}")

__all__ = [
    "AblationCAM",
    "Attribution",
    "BinaryLogit",
    "CAM",
    "ActivationMap",
    "CallContext",
    "ClassLogit",
    "ClassProbability",
    "Deconvnet",
    "EigenCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "GuidedBackprop",
    "GuidedGradCAM",
    "HiResCAM",
    "InputGradient",
    "IntegratedGradients",
    "LabelProbability",
    "LayerCAM",
    "MapResult",
    "MethodInfo",
    "available_methods",
    "channels_last",
    "deprocess",
    "load_image",
    "method_info",
    "normalize_maps",
    "outline",
    "overlay",
    "register",
    "RegressionOutput",
    "resize_maps",
    "ScoreCAM",
    "SegmentationRegion",
    "show_maps",
    "SmoothGrad",
    "to_tensor",
    "tokens",
    "XGradCAM",
]
