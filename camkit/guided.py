"""Gradients of the class score with respect to the input, under three ReLU backward rules.

At a ReLU with forward input x and incoming gradient g (Springenberg et al., ICLR 2015 workshop):

* plain gradient (:class:`InputGradient`):   g * [x > 0]
* Deconvnet (:class:`Deconvnet`):            g * [g > 0]
* Guided Backprop (:class:`GuidedBackprop`): g * [x > 0] * [g > 0]

One mechanism serves all three: during the call a forward hook on every ``nn.ReLU`` /
``nn.ReLU6`` module passes its output through an autograd function that keeps the values and
changes the backward (:func:`relu_rule`); ReLU6's forward mask is 0 < x < 6.
A functional ``F.relu`` cannot be hooked: when the rule reached no module at all, camkit raises
instead of quietly returning the plain gradient.

Guided Grad-CAM (Selvaraju et al., ICCV 2017) = bilinearly upsampled Grad-CAM x Guided Backprop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .hooks import LayerSpec, preserved_model_state
from .methods import GradCAM, check_input
from .targets import Target, target_scores

_RULES = ("gradient", "deconvnet", "guided")


class _PositiveGradient(torch.autograd.Function):
    """Guided rule on top of a ReLU: the values pass unchanged, negative gradients are dropped.

    The ReLU's own backward, which runs next, then multiplies by its forward mask [x > 0]
    ([0 < x < 6] for ReLU6), so the ReLU may stay in place.
    """

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return y  # returned as is: autograd makes it a view whose gradient comes from backward below

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad.clamp(min=0)


class _DeconvnetReLU(torch.autograd.Function):
    """Deconvnet rule instead of a ReLU's backward: g * [g > 0], whatever the forward input was.

    Takes the ReLU's input x and output y and returns y; the gradient goes to x, past the ReLU,
    so the ReLU must run out of place for the call.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        return grad.clamp(min=0), None


@contextlib.contextmanager
def relu_rule(model: nn.Module, rule: str) -> Iterator[list[int]]:
    """Apply a ReLU backward rule to every nn.ReLU / nn.ReLU6 of ``model`` during the block.

    Yields a one-element list counting how many ReLU calls the rule reached.  The plain gradient
    keeps the ReLUs' own backward; guided adds a step before it; deconvnet replaces it (and runs
    the ReLUs out of place, their ``inplace`` flags restored afterwards).
    """
    if rule not in _RULES:
        raise ValueError(f"Unknown ReLU rule {rule!r}; choose one of {_RULES}.")
    applied = [0]

    def hook(_module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        applied[0] += 1
        if rule == "guided":
            return _PositiveGradient.apply(output)
        if rule == "deconvnet":
            return _DeconvnetReLU.apply(inputs[0], output)
        return None

    relus = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    handles = []
    with preserved_model_state(model):
        try:
            for module in relus:
                if rule == "deconvnet":
                    module.inplace = False
                handles.append(module.register_forward_hook(hook))
            yield applied
        finally:
            for handle in handles:
                handle.remove()


class InputGradient:
    """Gradient of the class score y^c with respect to the input pixels, (B, C, H, W).

    Subclasses change only the ReLU backward rule (see the module docstring).
    """

    rule = "gradient"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __call__(self, x: torch.Tensor, target: Target = None) -> torch.Tensor:
        """dy^c/dx under this class's ReLU rule; ``target`` as in :mod:`camkit.targets`."""
        check_input(self.model, x)
        inputs = x.detach().requires_grad_(True)
        with torch.enable_grad(), relu_rule(self.model, self.rule) as applied:
            scores, _ = target_scores(target, self.model(inputs))
            if applied[0] == 0 and self.rule != "gradient":
                raise RuntimeError(
                    f"{type(self).__name__} found no nn.ReLU / nn.ReLU6 module in the forward pass, so its "
                    "rule cannot be applied (functional F.relu calls cannot be hooked). Replace the "
                    "functional calls with nn.ReLU modules."
                )
            (gradient,) = torch.autograd.grad(scores.sum(), inputs)
        return gradient


class Deconvnet(InputGradient):
    """Deconvnet (Zeiler & Fergus, 2014): at each ReLU pass only positive gradients."""

    rule = "deconvnet"


class GuidedBackprop(InputGradient):
    """Guided Backprop (Springenberg et al., 2015): positive gradients where the input was positive."""

    rule = "guided"


class GuidedGradCAM:
    """Guided Grad-CAM (Selvaraju et al., ICCV 2017): upsampled Grad-CAM x Guided Backprop.

    Returns (B, C, H, W).  With ``normalize=True`` the Grad-CAM map is min-max scaled to [0, 1]
    first (as in pytorch-grad-cam's examples); ``normalize=False`` uses the raw map (as captum).
    """

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None) -> None:
        self.model = model
        self.grad_cam = GradCAM(model, layer)
        self.guided = GuidedBackprop(model)

    def __repr__(self) -> str:
        return f"GuidedGradCAM(layer={self.grad_cam.layer_names})"

    def __call__(self, x: torch.Tensor, target: Target = None, normalize: bool = True) -> torch.Tensor:
        result = self.grad_cam.compute(x, target, upsample=True, normalize=normalize)
        classes = result.classes if result.classes is not None else target
        return result.maps[:, None] * self.guided(x, classes)
