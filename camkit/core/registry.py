"""The one list of camkit's methods: the CLI, the explorer, evaluation and the benchmark read it.

Adding a method is one file in :mod:`camkit.core`, one :func:`register` line below, and its tests.

>>> camkit.available_methods()
['cam', 'gradcam', 'gradcam-counterfactual', 'gradcampp', 'xgradcam', 'hirescam', 'layercam', 'ablationcam',
 'scorecam', 'eigencam', 'gradient', 'deconvnet', 'guided', 'smoothgrad', 'integrated-gradients', 'guided-gradcam']
>>> camkit.method_info("layercam").create(model, "layer4")     # LayerCAM(model, "layer4")
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .ablation_cam import AblationCAM
from .cam import CAM
from .eigen_cam import EigenCAM
from .grad_cam import GradCAM
from .grad_cam_plus_plus import GradCAMPlusPlus
from .guided_grad_cam import GuidedGradCAM
from .hires_cam import HiResCAM
from .input_gradient import Deconvnet, GuidedBackprop, InputGradient
from .integrated_gradients import IntegratedGradients
from .layer_cam import LayerCAM
from .score_cam import ScoreCAM
from .smooth_grad import smoothed
from .xgrad_cam import XGradCAM
from .layers import LayerSpec

LAYER_MAP = "layer map"
"""Returns maps (B, H, W) of one target layer, min-max scaled to [0, 1] by default."""
INPUT_GRADIENT = "input gradient"
"""Returns a signed gradient (B, C, H, W) at the input's pixels."""


@dataclass(frozen=True)
class MethodInfo:
    """One registered method.

    Attributes:
        name: the key (CLI ``--method``, :func:`method_info`), lower case with dashes.
        title: how menus and tables name it.
        factory: the class (or any callable) that makes the method.
        kind: :data:`LAYER_MAP` or :data:`INPUT_GRADIENT`.
        takes_layer: whether ``factory`` takes the target layer after the model.
        needs_gradient: whether a call runs a backward pass.
        forward_passes: forward passes per call (its cost, backward passes aside).
        paper: the paper it comes from.
        options: keyword arguments ``factory`` is given (e.g. ``counterfactual=True``).
        per_channel: whether it runs the model once per channel of the layer (the forward passes
            above are then per channel): apps run it only on demand.
    """

    name: str
    title: str
    factory: Callable[..., Callable]
    kind: str
    takes_layer: bool
    needs_gradient: bool
    forward_passes: int
    paper: str
    options: dict = field(default_factory=dict)
    per_channel: bool = False

    def create(self, model: nn.Module, layer: LayerSpec | None = None, reshape: object = None) -> Callable:
        """The method for ``model`` (at ``layer``, read through ``reshape``, when it takes a layer; a
        layer or reshape it does not take is an error)."""
        if self.takes_layer:
            return self.factory(model, layer, **self.options, **({} if reshape is None else {"reshape": reshape}))
        if layer is not None or reshape is not None:
            raise ValueError(f"{self.title} works on the input pixels and takes no layer; leave layer and reshape out (None).")
        return self.factory(model, **self.options)


_METHODS: dict[str, MethodInfo] = {}


def register(info: MethodInfo) -> MethodInfo:
    """Add a method to the registry (a name already taken is an error); returns ``info``."""
    if info.name in _METHODS:
        raise ValueError(f"A method named {info.name!r} is registered already.")
    if info.kind not in (LAYER_MAP, INPUT_GRADIENT):
        raise ValueError(f"kind must be {LAYER_MAP!r} or {INPUT_GRADIENT!r}, not {info.kind!r}.")
    _METHODS[info.name] = info
    return info


def unregister(name: str) -> None:
    """Remove a method from the registry (for tests and experiments)."""
    method_info(name)
    del _METHODS[name]


def available_methods() -> list[str]:
    """Names of the registered methods, in registration order."""
    return list(_METHODS)


def method_info(name: str) -> MethodInfo:
    """The registered method ``name``; an unknown name gets the close names in its error."""
    if name not in _METHODS:
        close = difflib.get_close_matches(str(name), _METHODS, n=3, cutoff=0.5)
        hint = f"Did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise ValueError(f"Unknown method {name!r}. {hint}Available: {', '.join(_METHODS)}.")
    return _METHODS[name]


register(MethodInfo("cam", "CAM", CAM, LAYER_MAP, True, False, 1, "Zhou et al., CVPR 2016"))
register(MethodInfo("gradcam", "Grad-CAM", GradCAM, LAYER_MAP, True, True, 1, "Selvaraju et al., ICCV 2017"))
register(MethodInfo("gradcam-counterfactual", "Counterfactual Grad-CAM", GradCAM, LAYER_MAP, True, True, 1,
                    "Selvaraju et al., ICCV 2017", {"counterfactual": True}))
register(MethodInfo("gradcampp", "Grad-CAM++", GradCAMPlusPlus, LAYER_MAP, True, True, 1, "Chattopadhay et al., WACV 2018"))
register(MethodInfo("xgradcam", "XGrad-CAM", XGradCAM, LAYER_MAP, True, True, 1, "Fu et al., BMVC 2020"))
register(MethodInfo("hirescam", "HiResCAM", HiResCAM, LAYER_MAP, True, True, 1, "Draelos & Carin, 2020"))
register(MethodInfo("layercam", "LayerCAM", LayerCAM, LAYER_MAP, True, True, 1, "Jiang et al., IEEE TIP 2021"))
register(MethodInfo("ablationcam", "Ablation-CAM", AblationCAM, LAYER_MAP, True, False, 1, "Desai & Ramaswamy, WACV 2020",
                    per_channel=True))
register(MethodInfo("scorecam", "Score-CAM", ScoreCAM, LAYER_MAP, True, False, 1, "Wang et al., CVPR workshops 2020",
                    per_channel=True))
register(MethodInfo("eigencam", "Eigen-CAM", EigenCAM, LAYER_MAP, True, False, 1, "Muhammad & Yeasin, IJCNN 2020"))
register(MethodInfo("gradient", "Input gradient", InputGradient, INPUT_GRADIENT, False, True, 1, "Simonyan et al., ICLR 2014 workshop"))
register(MethodInfo("deconvnet", "Deconvnet", Deconvnet, INPUT_GRADIENT, False, True, 1, "Zeiler & Fergus, ECCV 2014"))
register(MethodInfo("guided", "Guided Backprop", GuidedBackprop, INPUT_GRADIENT, False, True, 1, "Springenberg et al., ICLR 2015 workshop"))
register(MethodInfo("smoothgrad", "SmoothGrad", smoothed(InputGradient), INPUT_GRADIENT, False, True, 25,
                    "Smilkov et al., ICML 2017 workshop"))
register(MethodInfo("integrated-gradients", "Integrated Gradients", IntegratedGradients, INPUT_GRADIENT, False, True, 50,
                    "Sundararajan et al., ICML 2017"))
register(MethodInfo("guided-gradcam", "Guided Grad-CAM", GuidedGradCAM, INPUT_GRADIENT, True, True, 2, "Selvaraju et al., ICCV 2017"))
