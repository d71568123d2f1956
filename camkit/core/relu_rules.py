"""The three ReLU backward rules, applied to every nn.ReLU / nn.ReLU6 of a model for one call.

At a ReLU with forward input x and incoming gradient g (Springenberg et al., "Striving for
Simplicity: The All Convolutional Net", ICLR 2015 workshop):

* plain gradient:   g * [x > 0]
* Deconvnet:        g * [g > 0]
* Guided Backprop:  g * [x > 0] * [g > 0]

During the block a forward hook on every ``nn.ReLU`` / ``nn.ReLU6`` module passes its output
through an autograd function that keeps the values and changes the backward; ReLU6's forward
mask is 0 < x < 6.  A functional ``F.relu`` cannot be hooked, so :func:`relu_rule` counts the
ReLU calls it reached and the caller can refuse to return a plain gradient under another name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

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
    inplace = {m: m.inplace for m in relus}
    handles = []
    try:
        for module in relus:
            if rule == "deconvnet":
                module.inplace = False
            handles.append(module.register_forward_hook(hook))
        yield applied
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in inplace.items():
            module.inplace = flag
