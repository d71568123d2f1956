"""Definitions computed the plain way, as references for camkit's maps.

The reference runs on a deep copy of the model in which nothing can overwrite the target layer's
output in place: every ``inplace`` flag is switched off, ResNet's ``out += identity`` is written
out of place, and a model whose forward calls another in-place *function* is given an
out-of-place forward (``forward=``).  ReLU backward rules are
applied by swapping the ReLU modules for :class:`RuleReLU`, a different mechanism from camkit's
hooks.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock


def _basic_block_out_of_place(self: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """torchvision's BasicBlock.forward with ``out += identity`` written as ``out + identity``."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return self.relu(out + identity)


def out_of_place_copy(model: nn.Module) -> nn.Module:
    """A deep copy in which nothing runs in place: ``inplace`` flags off, BasicBlock's ``+=`` replaced."""
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if hasattr(module, "inplace"):
            module.inplace = False
        if isinstance(module, BasicBlock):
            module.forward = types.MethodType(_basic_block_out_of_place, module)
    return clone


def activation_and_gradient(
    model: nn.Module, layer: str, x: torch.Tensor, classes: torch.Tensor | list[int],
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A = the layer's output and dy^c/dA, on an out-of-place copy of the model."""
    clone = out_of_place_copy(model)
    stored = []
    handle = clone.get_submodule(layer).register_forward_hook(lambda _m, _i, out: stored.append(out))
    try:
        logits = forward(clone, x) if forward else clone(x)
    finally:
        handle.remove()
    score = logits.gather(1, torch.as_tensor(classes)[:, None]).sum()
    (gradient,) = torch.autograd.grad(score, stored[0])
    return stored[0].detach(), gradient


def grad_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    alpha = gradient.mean(dim=(2, 3), keepdim=True)
    return F.relu((alpha * activation).sum(dim=1))


def layer_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    return F.relu((F.relu(gradient) * activation).sum(dim=1))


def grad_cam_plus_plus(activation: torch.Tensor, gradient: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Chattopadhay et al. eq. 19 under the exponential assumption, written pixel by pixel in float64
    (``eps`` added to the denominator reproduces pytorch-grad-cam's variant)."""
    a, g = activation.double(), gradient.double()
    total = a.sum(dim=(2, 3), keepdim=True)
    numerator, denominator = g**2, 2 * g**2 + total * g**3 + eps
    alpha = torch.zeros_like(g)
    nonzero = (denominator != 0) & (g != 0)
    alpha[nonzero] = numerator[nonzero] / denominator[nonzero]
    weights = (alpha * g.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    return (weights * a).sum(dim=1).clamp(min=0).float()


def xgrad_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    a, g = activation.double(), gradient.double()
    total = a.sum(dim=(2, 3), keepdim=True)
    weights = torch.where(total != 0, (a * g).sum(dim=(2, 3), keepdim=True) / total, torch.zeros_like(total))
    return (weights * a).sum(dim=1).clamp(min=0).float()


def hires_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    return (activation * gradient).sum(dim=1).clamp(min=0)


def eigen_projection(activation: torch.Tensor) -> torch.Tensor:
    """The first principal component by an eigendecomposition of the covariance (not an SVD), signed
    to correlate positively with the channel mean: (B, h, w), before the ReLU."""
    maps = []
    for a in activation.double():
        pixels = a.flatten(1).T  # (h*w, K)
        centred = pixels - pixels.mean(dim=0)
        _, vectors = torch.linalg.eigh(centred.T @ centred)
        projection = centred @ vectors[:, -1]
        mean = pixels.mean(dim=1)
        if torch.dot(projection - projection.mean(), mean - mean.mean()) < 0:
            projection = -projection
        maps.append(projection.view(a.shape[1:]))
    return torch.stack(maps).float()


def min_max(maps: torch.Tensor) -> torch.Tensor:
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return torch.nan_to_num((maps - low) / (high - low))


class _Rule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rule, upper):
        ctx.save_for_backward(x)
        ctx.rule, ctx.upper = rule, upper
        return x.clamp(min=0, max=upper)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        forward_mask = (x > 0) if ctx.upper is None else (x > 0) & (x < ctx.upper)
        keep = {"gradient": forward_mask, "deconvnet": grad > 0, "guided": forward_mask & (grad > 0)}[ctx.rule]
        return grad * keep, None, None


class RuleReLU(nn.Module):
    def __init__(self, rule: str, upper: float | None = None) -> None:
        super().__init__()
        self.rule, self.upper = rule, upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Rule.apply(x, self.rule, self.upper)


def rule_gradient(model: nn.Module, x: torch.Tensor, classes: torch.Tensor, rule: str) -> torch.Tensor:
    """dy^c/dx with every nn.ReLU / nn.ReLU6 module of a copy replaced by RuleReLU(rule)."""
    clone = copy.deepcopy(model)
    for parent in list(clone.modules()):
        for name, child in parent.named_children():
            if isinstance(child, (nn.ReLU, nn.ReLU6)):
                setattr(parent, name, RuleReLU(rule, 6.0 if isinstance(child, nn.ReLU6) else None))
    inputs = x.detach().requires_grad_(True)
    logits = clone(inputs)
    (gradient,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), inputs)
    return gradient
