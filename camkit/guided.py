"""Gradients of the class score with respect to the input, under three ReLU backward rules.

At a ReLU with forward input x and incoming gradient g (Springenberg et al., ICLR 2015 workshop):

* plain gradient (:class:`InputGradient`):   g * [x > 0]
* Deconvnet (:class:`Deconvnet`):            g * [g > 0]
* Guided Backprop (:class:`GuidedBackprop`): g * [x > 0] * [g > 0]

One mechanism serves all three: during the call every ``nn.ReLU`` / ``nn.ReLU6`` module runs out
of place (so its input x survives), and a forward hook passes its output through
:class:`_ReluRule`, which keeps the values and replaces the backward by the rule (ReLU6 passes
the forward mask 0 < x < 6).
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


class _ReluRule(torch.autograd.Function):
    """Forward: the ReLU module's own output y. Backward: the chosen rule instead of the ReLU's."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, upper: float | None, rule: str) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.upper, ctx.rule = upper, rule
        return y  # returned as is: autograd makes it a view whose gradient comes from backward below

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # noqa: D102
        (x,) = ctx.saved_tensors
        if ctx.rule == "deconvnet":
            return grad.clamp(min=0), None, None, None
        if ctx.rule == "guided":
            grad = grad.clamp(min=0)
        # g * [x > 0] (ReLU) or g * [0 < x < 6] (ReLU6), each one fused pass, as the ReLUs' own backward
        if ctx.upper is None:
            return torch.ops.aten.threshold_backward(grad, x, 0), None, None, None
        return torch.ops.aten.hardtanh_backward(grad, x, 0, ctx.upper), None, None, None


@contextlib.contextmanager
def relu_rule(model: nn.Module, rule: str) -> Iterator[list[int]]:
    """Apply a ReLU backward rule to every nn.ReLU / nn.ReLU6 of ``model`` during the block.

    Yields a one-element list counting how many ReLU calls the rule reached.
    """
    if rule not in _RULES:
        raise ValueError(f"Unknown ReLU rule {rule!r}; choose one of {_RULES}.")
    applied = [0]

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        applied[0] += 1
        upper = 6.0 if isinstance(module, nn.ReLU6) else None
        return _ReluRule.apply(inputs[0], output, upper, rule)

    relus = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    handles = []
    with preserved_model_state(model):
        try:
            for module in relus:
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
