"""Forward hooks that live only during one call and keep each target layer's output.

:func:`capture_activations` registers forward hooks that keep each target layer's output and hand
a *copy* of it to the rest of the network.  Anything downstream that works in place (the
``nn.ReLU(inplace=True)`` after torchvision's convolutions, DenseNet's
``F.relu(features, inplace=True)``) then changes the copy, never the tensor we keep, and
``torch.autograd.grad(score, kept_tensor)`` is exactly dy/dA of the definition.  This is the
forward-hook route of pytorch-grad-cam without its module backward hook, which breaks on an
in-place ReLU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from .layers import channels_last_consumers, channels_last_reason
from .reshape import ChannelsLast, Reshape, Tokens


@dataclass
class CapturedLayer:
    """One target layer's output as the network computed it (kept away from in-place ops)."""

    name: str
    module: nn.Module
    outputs: list[torch.Tensor] = field(default_factory=list)
    channels_last: list[str] = field(default_factory=list)  # reasons found during the pass

    @property
    def output(self) -> torch.Tensor:
        """The layer's output as it ran, or a clear error when it did not run exactly once."""
        if not self.outputs:
            raise RuntimeError(
                f"Layer {self.name!r} was not run in the forward pass; choose a layer the model uses."
            )
        if len(self.outputs) > 1:
            raise ValueError(
                f"Layer {self.name!r} ran {len(self.outputs)} times in one forward pass; "
                "its map is ambiguous. Choose a module that is used once."
            )
        return self.outputs[0]

    def inferred_reshape(self) -> tuple[Reshape | None, str]:
        """How to read the output when the user gave no ``reshape``, and why: tokens for (B, N, C),
        channels-last where the layer or the module reading it next says so
        (:func:`channels_last_reason`), else as it is (None)."""
        output = self.output
        if output.dim() == 3:
            return Tokens(), "it is 3-D"
        own = channels_last_reason(self.module, output)
        if own or self.channels_last:
            return ChannelsLast(), f"the layer is {own}" if own else self.channels_last[0]
        return None, ""

    def feature_map(self, tensor: torch.Tensor, reshape: Reshape | None, input_size: tuple[int, int]) -> torch.Tensor:
        """``tensor`` (the output, or dy/dA) as (B, K, h, w), read through ``reshape``; a clear error otherwise."""
        shown = tensor if reshape is None else reshape(tensor, input_size)
        if not isinstance(shown, torch.Tensor) or shown.dim() != 4:
            got = f"shape {tuple(shown.shape)}" if isinstance(shown, torch.Tensor) else type(shown).__name__
            if reshape is None:
                raise ValueError(
                    f"Layer {self.name!r} returns a tensor of {got}; a class activation map needs a 4-D (B, K, h, w) "
                    "feature map. Choose a convolutional layer, or pass reshape= (camkit.tokens, camkit.channels_last)."
                )
            raise ValueError(f"reshape turned layer {self.name!r}'s output {tuple(tensor.shape)} into {got}, not (B, K, h, w).")
        return shown


@contextlib.contextmanager
def capture_activations(model: nn.Module, layers: list[tuple[str, nn.Module]]) -> Iterator[list[CapturedLayer]]:
    """Keep each layer's output for the gradient and give the network a copy of it.

    The kept tensor is made to require grad when nothing upstream does (frozen parameters, a
    ``torch.no_grad`` caller), so dy/dA exists in every case; no parameter ``.grad`` is touched.
    The copies passed on are watched: a copy read by a last-dimension ``nn.LayerNorm`` or an
    ``nn.Linear`` marks its layer as channels-last.
    """
    captured = [CapturedLayer(name, module) for name, module in layers]
    passed_on: dict[int, tuple[torch.Tensor, list[str]]] = {}

    def make_hook(slot: CapturedLayer):
        def hook(_module: nn.Module, _inputs: tuple, output: object) -> torch.Tensor:
            if not isinstance(output, torch.Tensor):
                raise ValueError(
                    f"Layer {slot.name!r} returns {type(output).__name__}, not a tensor; choose a layer that returns a feature map."
                )
            kept = output if output.requires_grad else output.detach().requires_grad_(True)
            slot.outputs.append(kept)
            copy = kept.clone()
            passed_on[id(copy)] = (copy, slot.channels_last)  # the copy is kept so that its id stays unique
            return copy

        return hook

    handles = [slot.module.register_forward_hook(make_hook(slot)) for slot in captured]
    try:
        with channels_last_consumers(model, passed_on):
            yield captured
    finally:
        for handle in handles:
            handle.remove()
