"""CAM, Grad-CAM and LayerCAM: one small base class, each method states only its map.

Notation of the papers: A^k is channel k of the target layer's output (K, h, w), y^c the score of
class c before the softmax, Z = h * w.

* CAM (Zhou et al., CVPR 2016):         M^c = sum_k w_k^c A^k
* Grad-CAM (Selvaraju et al., ICCV 2017): alpha_k^c = (1/Z) sum_ij dy^c/dA^k_ij,
                                          M^c = ReLU(sum_k alpha_k^c A^k)
* LayerCAM (Jiang et al., IEEE TIP 2021): M^c = ReLU(sum_k ReLU(dy^c/dA^k) * A^k)  (element-wise)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import (
    CapturedLayer,
    LayerSpec,
    capture_activations,
    find_default_layer,
    first_conv_in_channels,
    module_names,
    preserved_model_state,
    resolve_layers,
)
from .targets import Target, target_scores


@dataclass
class MapResult:
    """Everything one call computed: the maps, the logits and the classes explained."""

    maps: torch.Tensor
    logits: torch.Tensor
    classes: torch.Tensor | None
    layers: list[str]


def check_input(model: nn.Module, x: object) -> None:
    """Raise a clear error for inputs no method can explain."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, C, H, W), not {type(x).__name__}.")
    if x.dim() != 4:
        hint = " For one image use x.unsqueeze(0)." if x.dim() == 3 else ""
        raise ValueError(f"x must have shape (B, C, H, W); got {x.dim()} dimensions {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a float tensor (got {x.dtype}); convert and normalise it first, e.g. with camkit.image.to_tensor.")
    if torch.is_inference_mode_enabled() or x.is_inference():
        raise RuntimeError(
            "Class activation maps need gradients, which torch.inference_mode() forbids. "
            "Call camkit outside inference mode (torch.no_grad() is fine), with a tensor made outside it."
        )
    channels = first_conv_in_channels(model)
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"x has {x.shape[1]} channels but the model's first convolution takes {channels}.")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values; clean the input before explaining it.")


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max scale each map of (B, h, w) to [0, 1]; a constant map becomes all zeros."""
    flat = maps.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    span = flat.max(dim=1).values[:, None, None] - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1), torch.zeros_like(maps))


def resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, h, w) maps (align_corners=False, like OpenCV's INTER_LINEAR)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def _largest_size(maps: list[torch.Tensor]) -> tuple[int, int]:
    return max((tuple(m.shape[-2:]) for m in maps), key=lambda hw: hw[0] * hw[1])


class ActivationMap:
    """Base class: hooks the target layers during one call and turns (A, dy/dA) into maps.

    Subclasses implement :meth:`layer_map`; several layers are combined by :meth:`combine`
    (the mean of the normalised maps, at the largest layer's resolution).
    """

    needs_gradient = True

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None) -> None:
        self.model = model
        self._layers = None if layer is None else resolve_layers(model, layer)

    @property
    def layer_names(self) -> list[str] | None:
        """Names of the target layers (None until an auto-picked layer has been chosen)."""
        return None if self._layers is None else [name for name, _ in self._layers]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layer={self.layer_names})"

    def __call__(
        self, x: torch.Tensor, target: Target = None, upsample: bool = True, normalize: bool = True
    ) -> torch.Tensor:
        """Maps (B, H, W) float32 on x's device; see :meth:`compute` for the arguments."""
        return self.compute(x, target, upsample=upsample, normalize=normalize).maps

    def compute(
        self, x: torch.Tensor, target: Target = None, upsample: bool = True, normalize: bool = True
    ) -> MapResult:
        """Run the model once on x and explain ``target`` (see :mod:`camkit.targets`).

        ``normalize`` min-max scales each map to [0, 1] at the layer's resolution; ``upsample``
        then resizes it bilinearly to x's (H, W).  With both False you get the raw map.
        """
        check_input(self.model, x)
        with preserved_model_state(self.model):
            if self._layers is None:
                self._layers = [find_default_layer(self.model, x[:1].detach())]
            grad_mode = torch.enable_grad() if self.needs_gradient else torch.no_grad()
            with grad_mode, capture_activations(self._layers) as captured, self.forward_hooks(captured):
                logits = self.model(x)
                scores, classes = target_scores(target, logits)
                activations = [slot.activation for slot in captured]
                gradients = self._gradients(scores, activations, captured)
            with torch.no_grad():
                maps = [
                    self.layer_map(slot, a.detach(), g, classes).float()
                    for slot, a, g in zip(captured, activations, gradients)
                ]
                combined = maps[0] if len(maps) == 1 else self.combine(maps)
                if normalize:
                    combined = normalize_maps(combined)
                if upsample:
                    combined = resize_maps(combined, tuple(x.shape[-2:]))
        return MapResult(combined, logits.detach(), classes, [name for name, _ in self._layers])

    def _gradients(
        self, scores: torch.Tensor, activations: list[torch.Tensor], captured: list[CapturedLayer]
    ) -> list[torch.Tensor | None]:
        if not self.needs_gradient:
            return [None] * len(activations)
        gradients = torch.autograd.grad(scores.sum(), activations, allow_unused=True)
        for slot, gradient in zip(captured, gradients):
            if gradient is None:
                raise ValueError(f"The score does not depend on layer {slot.name!r}; choose a layer on the path to the output.")
        return list(gradients)

    @contextlib.contextmanager
    def forward_hooks(self, captured: list[CapturedLayer]) -> Iterator[None]:
        """Extra hooks a method needs during the forward pass (none by default)."""
        yield

    def layer_map(
        self, slot: CapturedLayer, activation: torch.Tensor, gradient: torch.Tensor | None, classes: torch.Tensor | None
    ) -> torch.Tensor:
        """The raw map (B, h, w) of one layer."""
        raise NotImplementedError

    def combine(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Several layers: mean of the min-max normalised maps at the largest resolution."""
        size = _largest_size(maps)
        return torch.stack([resize_maps(normalize_maps(m), size) for m in maps]).mean(dim=0)


class CAM(ActivationMap):
    """Class Activation Mapping (Zhou et al., CVPR 2016): M^c = sum_k w_k^c A^k, no ReLU.

    Defined when the layer feeds global average pooling and one linear layer whose weights w are
    the class weights.  ``fc`` (a name or module) is found automatically when exactly one
    ``nn.Linear`` runs after the layer; either way camkit checks that its input is the spatial
    mean of the layer's output, so a plain VGG (three linear layers) gets a clear error.
    No backward pass is needed.
    """

    needs_gradient = False

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, fc: str | nn.Linear | None = None) -> None:
        super().__init__(model, layer)
        self._fc = None if fc is None else resolve_layers(model, fc)[0][1]
        if self._fc is not None and not isinstance(self._fc, nn.Linear):
            raise TypeError(f"fc must be an nn.Linear, got {type(self._fc).__name__}.")
        self._linear_calls: list[tuple[nn.Linear, torch.Tensor]] = []

    def compute(
        self, x: torch.Tensor, target: Target = None, upsample: bool = True, normalize: bool = True
    ) -> MapResult:
        try:
            return super().compute(x, target, upsample=upsample, normalize=normalize)
        finally:
            self._linear_calls = []

    @contextlib.contextmanager
    def forward_hooks(self, captured: list[CapturedLayer]) -> Iterator[None]:
        calls = self._linear_calls = []

        def after_target(module: nn.Module, inputs: tuple, _output: object) -> None:
            if any(slot.outputs for slot in captured):
                calls.append((module, inputs[0]))

        handles = [m.register_forward_hook(after_target) for m in self.model.modules() if isinstance(m, nn.Linear)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _class_weights_layer(self, slot: CapturedLayer, activation: torch.Tensor) -> nn.Linear:
        names = module_names(self.model)
        calls = [(m, inp) for m, inp in self._linear_calls if self._fc is None or m is self._fc]
        if len(calls) != 1:
            ran = ", ".join(names[m] for m, _ in self._linear_calls) or "none"
            raise ValueError(
                f"CAM needs layer {slot.name!r} to be followed by global average pooling and exactly one "
                f"linear layer, but the model runs these linear layers after it: {ran}. Use GradCAM "
                "(no such requirement), or a '-GAP' model (camkit.zoo's 'shapes' VGG16/AlexNet)."
            )
        fc, fc_input = calls[0]
        pooled = activation.mean(dim=(2, 3))
        if fc_input.shape != pooled.shape or not torch.allclose(fc_input, pooled, rtol=1e-4, atol=1e-5 * (1 + pooled.abs().max().item())):
            raise ValueError(
                f"The input of {names[fc]!r} is not the global average of {slot.name!r}'s output, so "
                f"its weights are not CAM's class weights. Choose the layer that feeds the pooling."
            )
        return fc

    def layer_map(
        self, slot: CapturedLayer, activation: torch.Tensor, gradient: torch.Tensor | None, classes: torch.Tensor | None
    ) -> torch.Tensor:
        if classes is None:
            raise TypeError("CAM reads the class weights of the linear layer, so target must name classes (None, int or ints), not a callable.")
        weights = self._class_weights_layer(slot, activation).weight[classes]
        return torch.einsum("bk,bkhw->bhw", weights.to(activation.dtype), activation)


class GradCAM(ActivationMap):
    """Grad-CAM (Selvaraju et al., ICCV 2017).

    alpha_k^c = (1/Z) sum_ij dy^c/dA^k_ij,   M^c = ReLU(sum_k alpha_k^c A^k).
    ``counterfactual=True`` negates the gradients (the paper's counterfactual explanations):
    the regions whose removal would make the network more confident in class c.
    """

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, counterfactual: bool = False) -> None:
        super().__init__(model, layer)
        self.counterfactual = counterfactual

    def layer_map(
        self, slot: CapturedLayer, activation: torch.Tensor, gradient: torch.Tensor | None, classes: torch.Tensor | None
    ) -> torch.Tensor:
        alpha = gradient.mean(dim=(2, 3))
        if self.counterfactual:
            alpha = -alpha
        return F.relu(torch.einsum("bk,bkhw->bhw", alpha, activation))


class LayerCAM(ActivationMap):
    """LayerCAM (Jiang et al., IEEE TIP 2021): M^c = ReLU(sum_k ReLU(dy^c/dA^k) * A^k).

    Several layers are fused as in the paper: each map is scaled by tanh(gamma * M / max M)
    (gamma = 2), brought to the largest layer's size, and the element-wise maximum is taken.
    """

    gamma = 2.0

    def layer_map(
        self, slot: CapturedLayer, activation: torch.Tensor, gradient: torch.Tensor | None, classes: torch.Tensor | None
    ) -> torch.Tensor:
        return F.relu((F.relu(gradient) * activation).sum(dim=1))

    def combine(self, maps: list[torch.Tensor]) -> torch.Tensor:
        size = _largest_size(maps)
        scaled = []
        for m in maps:
            peak = m.flatten(1).max(dim=1).values[:, None, None]
            scaled.append(resize_maps(torch.tanh(self.gamma * m / torch.where(peak > 0, peak, 1)), size))
        return torch.stack(scaled).max(dim=0).values
