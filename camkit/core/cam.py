"""CAM, Class Activation Mapping (Zhou et al., "Learning Deep Features for Discriminative
Localization", CVPR 2016):

    M^c = sum_k w_k^c A^k        (no ReLU)

where w^c is row c of the linear layer that follows global average pooling.  No backward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .base import ActivationMap, CallContext
from .hooks import CapturedLayer
from .layers import LayerSpec, module_names, resolve_layers


class CAM(ActivationMap):
    """Class Activation Mapping: M^c = sum_k w_k^c A^k.

    Defined when the layer feeds global average pooling and one linear layer whose weights w are
    the class weights.  ``fc`` (a name or module) is found automatically when exactly one
    ``nn.Linear`` runs after the layer; either way camkit checks that its input is the spatial
    mean of the layer's output, so a plain VGG (three linear layers) gets a clear error.
    """

    needs_gradient = False

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, fc: str | nn.Linear | None = None) -> None:
        super().__init__(model, layer)
        self._fc = None if fc is None else resolve_layers(model, fc)[0][1]
        if self._fc is not None and not isinstance(self._fc, nn.Linear):
            raise TypeError(f"fc must be an nn.Linear, got {type(self._fc).__name__}.")

    @contextlib.contextmanager
    def forward_hooks(self, recorded: dict, captured: list[CapturedLayer]) -> Iterator[None]:
        """Record every linear layer that runs after a target layer, with its input."""
        calls = recorded["linear_calls"] = []

        def after_target(module: nn.Module, inputs: tuple, _output: object) -> None:
            if any(slot.outputs for slot in captured):
                calls.append((module, inputs[0]))

        handles = [m.register_forward_hook(after_target) for m in self.model.modules() if isinstance(m, nn.Linear)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _class_weights_layer(self, context: CallContext) -> nn.Linear:
        names = module_names(self.model)
        ran = context.recorded["linear_calls"]
        calls = [(m, inp) for m, inp in ran if self._fc is None or m is self._fc]
        if len(calls) != 1:
            listed = ", ".join(names[m] for m, _ in ran) or "none"
            raise ValueError(
                f"CAM needs layer {context.layer!r} to be followed by global average pooling and exactly one "
                f"linear layer, but the model runs these linear layers after it: {listed}. Use GradCAM "
                "(no such requirement), or a '-GAP' model (camkit.zoo's 'shapes' VGG16/AlexNet)."
            )
        fc, fc_input = calls[0]
        pooled = context.activation.mean(dim=(2, 3))
        if fc_input.shape != pooled.shape or not torch.allclose(fc_input, pooled, rtol=1e-4, atol=1e-5 * (1 + pooled.abs().max().item())):
            raise ValueError(
                f"The input of {names[fc]!r} is not the global average of {context.layer!r}'s output, so "
                f"its weights are not CAM's class weights. Choose the layer that feeds the pooling."
            )
        return fc

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """sum_k w_k^c A^k, with w^c the class's row of the linear layer."""
        if context.classes is None:
            raise TypeError("CAM reads the class weights of the linear layer, so target must name classes (None, int or ints), not a callable.")
        weights = self._class_weights_layer(context).weight[context.classes]
        return torch.einsum("bk,bkhw->bhw", weights.to(context.activation.dtype), context.activation)
