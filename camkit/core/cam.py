"""CAM, Class Activation Mapping (Zhou et al., "Learning Deep Features for Discriminative
Localization", CVPR 2016):

    M^c = sum_k w_k^c A^k        (no ReLU)

where A is what global average pooling averages and w^c row c of the linear layer after it, so
that y^c = mean_ij M^c_ij + b_c.  No backward pass.  Two layouts of torchvision's models ask what
A and w are:

* DenseNet applies ``F.relu(features, inplace=True)`` between its layer ``features`` and the
  pooling: there is no module to pick, so A is ReLU of the layer's output, the tensor the
  pooling sees (found by checking the linear layer's input).
* SqueezeNet has no linear layer: a 1x1 convolution makes one map per class *before* a ReLU and
  the pooling.  Its weights play w's part, and M^c is the class's map of that convolution
  before its bias and ReLU (the same map up to where ReLU clips it, so the same argmax where
  M^c + b_c > 0 somewhere).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .base import ActivationMap, CallContext
from .hooks import CapturedLayer
from .layers import LayerSpec, module_names, resolve_layers

ClassWeights = nn.Linear | nn.Conv2d


def is_class_weights(module: nn.Module) -> bool:
    """A linear layer, or a 1x1 convolution without groups (SqueezeNet's classifier)."""
    if isinstance(module, nn.Linear):
        return True
    return isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.groups == 1


def gives_the_scores(pooled: tuple[torch.Tensor, torch.Tensor], output: object) -> bool:
    """Whether the model's output is one of ``pooled``, the spatial means of a 1x1 convolution's
    maps (B, classes) and of their ReLU: then they are class maps before the pooling (SqueezeNet)."""
    if not isinstance(output, torch.Tensor):
        return False
    return any(output.shape == mean.shape and torch.allclose(output, mean, rtol=1e-4, atol=1e-5 * (1 + mean.abs().max().item()))
               for mean in pooled)


class CAM(ActivationMap):
    """Class Activation Mapping: M^c = sum_k w_k^c A^k.

    Defined when the layer feeds global average pooling and one linear layer whose weights w are
    the class weights (or a 1x1 convolution that runs on the layer's output, as in SqueezeNet).
    ``fc`` (a name or module) is found automatically when exactly one such layer runs after the
    layer; either way camkit checks that its input is the spatial mean of the layer's output (or
    the output itself for a 1x1 convolution), or of its ReLU, so a plain VGG (three linear
    layers) gets a clear error.
    """

    needs_gradient = False

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, fc: str | ClassWeights | None = None,
                 reshape: object = None) -> None:
        super().__init__(model, layer, reshape)
        self._fc = None if fc is None else resolve_layers(model, fc)[0][1]
        if self._fc is not None and not is_class_weights(self._fc):
            raise TypeError(f"fc must be an nn.Linear or a 1x1 nn.Conv2d, got {self._fc!r}.")

    @contextlib.contextmanager
    def forward_hooks(self, recorded: dict, captured: list[CapturedLayer]) -> Iterator[None]:
        """Record every linear layer (and 1x1 convolution) that runs after a target layer, with its input."""
        calls = recorded["linear_calls"] = []

        def after_target(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            kept = [slot.outputs[0].shape for slot in captured if slot.outputs]
            if not kept:
                return
            if isinstance(module, nn.Linear):
                calls.append((module, inputs[0], None))
            elif inputs[0].shape in kept:  # a 1x1 convolution on a map shaped like a target layer's output
                pooled = output.detach().mean(dim=(2, 3)), output.detach().relu().mean(dim=(2, 3))
                calls.append((module, inputs[0], pooled))

        handles = [m.register_forward_hook(after_target) for m in self.model.modules() if is_class_weights(m)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def class_weights(self, context: CallContext) -> tuple[torch.Tensor, torch.Tensor]:
        """(w, A): the class weights (classes, K) and the tensor they weigh, the layer's output or
        its ReLU, whichever the linear layer (or 1x1 convolution) reads."""
        names = module_names(self.model)
        ran = [(m, inp) for m, inp, pooled in context.recorded["linear_calls"]
               if isinstance(m, nn.Linear) or gives_the_scores(pooled, context.output)]
        candidates = [(m, inp) for m, inp in ran if self._fc is None or m is self._fc]
        activation = context.activation
        for fc, fc_input in candidates:
            for weighed in (activation, activation.relu()):
                seen = weighed if isinstance(fc, nn.Conv2d) else weighed.mean(dim=(2, 3))
                scale = 1 + seen.abs().max().item()
                if fc_input.shape == seen.shape and torch.allclose(fc_input, seen, rtol=1e-4, atol=1e-5 * scale):
                    return fc.weight.flatten(1), weighed
        if len(candidates) != 1:
            listed = ", ".join(names[m] for m, _ in ran) or "none"
            raise ValueError(
                f"CAM needs layer {context.layer!r} to be followed by global average pooling and exactly one "
                f"linear layer, but the model runs these linear layers after it: {listed}. Use GradCAM "
                "(no such requirement), or a '-GAP' model (camkit.zoo's 'shapes' VGG16/AlexNet)."
            )
        raise ValueError(
            f"The input of {', '.join(names[m] for m, _ in candidates)!r} is not the global average of "
            f"{context.layer!r}'s output, so its weights are not CAM's class weights. "
            "Choose the layer that feeds the pooling."
        )

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """sum_k w_k^c A^k, with w^c the class's row of the linear layer (or 1x1 convolution)."""
        if context.classes is None:
            raise TypeError("CAM reads the class weights of the linear layer, so target must name classes (None, int or ints), not a callable.")
        weights, activation = self.class_weights(context)
        return torch.einsum("bk,bkhw->bhw", weights[context.classes].to(activation.dtype), activation)
