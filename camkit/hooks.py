"""Hooks that live only during one call, and the guard that leaves the model as it was.

Three pieces are shared by every method in camkit:

* :func:`resolve_layers` turns what the user wrote (a dotted name, a module, a list, or ``None``)
  into ``(name, module)`` pairs, with a clear error that lists close names for a typo.
* :func:`capture_activations` registers forward hooks that keep each target layer's output and
  hand a *copy* of it to the rest of the network.  Anything downstream that works in place (the
  ``nn.ReLU(inplace=True)`` after torchvision's convolutions, DenseNet's
  ``F.relu(features, inplace=True)``) then changes the copy, never the tensor we keep, and
  ``torch.autograd.grad(score, kept_tensor)`` is exactly dy/dA of the definition.  This is the
  forward-hook route of pytorch-grad-cam without its module backward hook, which breaks on an
  in-place ReLU.
* :func:`preserved_model_state` snapshots train/eval mode, ``requires_grad`` and ReLU ``inplace``
  flags and puts them back in ``finally``, so a call that raises halfway changes nothing.
"""

from __future__ import annotations

import contextlib
import difflib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

LayerSpec = str | nn.Module | Sequence[str | nn.Module]

_POOLING = (
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.LPPool2d,
)


def module_names(model: nn.Module) -> dict[nn.Module, str]:
    """Map each submodule of ``model`` to its dotted name (the first name if shared)."""
    names: dict[nn.Module, str] = {}
    for name, module in model.named_modules():
        names.setdefault(module, name)
    return names


def _unknown_layer_error(model: nn.Module, name: str) -> ValueError:
    candidates = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)
    hint = f"Closest names: {', '.join(close)}." if close else (
        f"Top-level modules: {', '.join(n for n, _ in model.named_children())}."
    )
    return ValueError(
        f"Unknown layer {name!r}: the model has no submodule of that name. {hint} "
        "Pass a dotted name from model.named_modules(), e.g. 'layer4' or 'features.28'."
    )


def resolve_layers(model: nn.Module, layer: LayerSpec) -> list[tuple[str, nn.Module]]:
    """Return ``[(name, module), ...]`` for the requested layers (not ``None``: see find_default_layer)."""
    specs = [layer] if isinstance(layer, (str, nn.Module)) else list(layer)
    if not specs:
        raise ValueError("layer is an empty list: name at least one layer, or pass None to auto-pick.")
    names = module_names(model)
    resolved = []
    for spec in specs:
        if isinstance(spec, str):
            try:
                resolved.append((spec, model.get_submodule(spec)))
            except AttributeError:
                raise _unknown_layer_error(model, spec) from None
        elif isinstance(spec, nn.Module):
            if spec not in names:
                raise ValueError(
                    f"The module {type(spec).__name__} given as layer is not part of this model; "
                    "pass a submodule of the model (e.g. model.layer4) or its dotted name."
                )
            resolved.append((names[spec], spec))
        else:
            raise TypeError(
                f"layer must be a dotted name, an nn.Module, a list of them or None, not {type(spec).__name__}."
            )
    return resolved


def module_outputs(model: nn.Module, example: torch.Tensor) -> list[tuple[nn.Module, object]]:
    """``(module, output)`` of every module call in one no-grad forward pass, in the order they end.

    The hooks are removed before returning, also when the forward pass raises.
    """
    outputs: list[tuple[nn.Module, object]] = []
    handles = [m.register_forward_hook(lambda module, _inputs, output: outputs.append((module, output))) for m in model.modules()]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def find_default_layer(model: nn.Module, example: torch.Tensor) -> tuple[str, nn.Module]:
    """Pick the last module whose output is a 4-D feature map with more than one pixel.

    ``example`` is one input the model takes.  Pooling modules are skipped, and the pick climbs to
    the largest enclosing module that returns the very same tensor (``layer4.1.relu`` ->
    ``layer4``).  The choice is announced with a warning that names it.
    """
    outputs = [(m, out) for m, out in module_outputs(model, example) if isinstance(out, torch.Tensor)]
    leaf_positions = [
        i
        for i, (m, out) in enumerate(outputs)
        if out.dim() == 4 and out.shape[2] * out.shape[3] > 1
        and not isinstance(m, _POOLING) and not list(m.children())
    ]
    if not leaf_positions:
        raise ValueError("No module of this model returns a 4-D feature map; name the layer explicitly.")
    position = leaf_positions[-1]
    chosen, tensor = outputs[position]
    for module, out in outputs[position + 1 :]:
        if out is tensor:
            chosen = module
    name = module_names(model)[chosen]
    warnings.warn(
        f"camkit picked layer {name!r} ({type(chosen).__name__}); pass layer=... to choose another.",
        stacklevel=4,
    )
    return name, chosen


def first_conv_in_channels(model: nn.Module) -> int | None:
    """Input channels of the first convolution (None when the model has none)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    return conv.in_channels if conv is not None else None


@dataclass
class CapturedLayer:
    """One target layer's output as the network computed it (kept away from in-place ops)."""

    name: str
    module: nn.Module
    outputs: list[torch.Tensor] = field(default_factory=list)

    @property
    def activation(self) -> torch.Tensor:
        if not self.outputs:
            raise RuntimeError(
                f"Layer {self.name!r} was not run in the forward pass; choose a layer the model uses."
            )
        if len(self.outputs) > 1:
            raise ValueError(
                f"Layer {self.name!r} ran {len(self.outputs)} times in one forward pass; "
                "its map is ambiguous. Choose a module that is used once."
            )
        output = self.outputs[0]
        if output.dim() != 4:
            raise ValueError(
                f"Layer {self.name!r} returns a tensor of shape {tuple(output.shape)}; a class "
                "activation map needs a 4-D (B, K, h, w) feature map. Choose a convolutional layer."
            )
        return output


@contextlib.contextmanager
def capture_activations(layers: list[tuple[str, nn.Module]]) -> Iterator[list[CapturedLayer]]:
    """Keep each layer's output for the gradient and give the network a copy of it.

    The kept tensor is made to require grad when nothing upstream does (frozen parameters, a
    ``torch.no_grad`` caller), so dy/dA exists in every case; no parameter ``.grad`` is touched.
    """
    captured = [CapturedLayer(name, module) for name, module in layers]

    def make_hook(slot: CapturedLayer):
        def hook(_module: nn.Module, _inputs: tuple, output: object) -> torch.Tensor:
            if not isinstance(output, torch.Tensor):
                raise ValueError(
                    f"Layer {slot.name!r} returns {type(output).__name__}, not a tensor; choose a layer that returns a feature map."
                )
            kept = output if output.requires_grad else output.detach().requires_grad_(True)
            slot.outputs.append(kept)
            return kept.clone()

        return hook

    handles = [slot.module.register_forward_hook(make_hook(slot)) for slot in captured]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def preserved_model_state(model: nn.Module) -> Iterator[None]:
    """Restore train/eval mode, ``requires_grad`` and ``inplace`` flags on exit, even on error."""
    training = {m: m.training for m in model.modules()}
    requires_grad = {p: p.requires_grad for p in model.parameters()}
    inplace = {m: m.inplace for m in model.modules() if hasattr(m, "inplace")}
    try:
        yield
    finally:
        for module, flag in training.items():
            module.training = flag
        for param, flag in requires_grad.items():
            param.requires_grad_(flag)
        for module, flag in inplace.items():
            module.inplace = flag
