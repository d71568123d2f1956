"""The base class of every class activation map: one call, one context, one map per layer.

Notation of the papers: A^k is channel k of the target layer's output (K, h, w), y^c the score of
class c before the softmax, Z = h * w.  A method states only its map, ``layer_map(context)``,
from what the call computed (:class:`CallContext`); the base class does the rest: it checks the
input, picks or resolves the layers, runs the model once with hooks, takes dy^c/dA when the
method needs it, normalises, upsamples, and leaves the model as it found it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .guard import explaining, warn_at_caller
from .hooks import CapturedLayer, capture_activations
from .layers import LayerSpec, check_model, find_default_layer, first_conv_check, resolve_layers
from .reshape import Reshape, as_reshape
from .targets import Target, target_scores


@dataclass
class CallContext:
    """What one call knows, handed to a method's :meth:`ActivationMap.layer_map`.

    Attributes:
        model: the network (in eval mode during the call).
        x: the input (B, C, H, W).
        output: what ``model(x)`` returned (logits (B, classes), or a dict, a namedtuple...).
        scores: the scores explained, (B,): y^c per sample, or the target callable's values.
        classes: the class explained per sample (B,), or None for a callable target.
        score: ``score(output, rows=None)``: the scores of the same classes in another output of
            the model, for methods that run it again on changed inputs (Ablation-CAM, Score-CAM).
            ``rows`` names the sample each row of that output belongs to (a batch of copies of
            one sample: ``torch.full((n,), b)``); None means the rows are the B samples.
        layer: the target layer's dotted name.
        activation: A, the layer's output (B, K, h, w), detached (read through ``reshape``).
        gradient: dy^c/dA (B, K, h, w), or None for methods that need no gradient.
        reshape: how the layer's own output was read as (B, K, h, w) (None: as it is); see
            :mod:`camkit.core.reshape`.
        recorded: what a method's own forward hooks kept (see :meth:`ActivationMap.forward_hooks`).
    """

    model: nn.Module
    x: torch.Tensor
    output: object
    scores: torch.Tensor
    classes: torch.Tensor | None
    score: Callable[..., torch.Tensor]
    layer: str = ""
    activation: torch.Tensor | None = None
    gradient: torch.Tensor | None = None
    reshape: Reshape | None = None
    recorded: dict = field(default_factory=dict)


@dataclass
class MapResult:
    """Everything one call computed: the maps, the model's output and the classes explained."""

    maps: torch.Tensor
    logits: object
    classes: torch.Tensor | None
    layers: list[str]


def check_input(x: object) -> None:
    """Raise a clear error for inputs no method can explain."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, C, H, W), not {type(x).__name__}.")
    if x.dim() != 4:
        hint = " For one image use x.unsqueeze(0)." if x.dim() == 3 else ""
        raise ValueError(f"x must have shape (B, C, H, W); got {x.dim()} dimensions {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a float tensor (got {x.dtype}); convert and standardise it first, e.g. with camkit.to_tensor.")
    if torch.is_inference_mode_enabled() or x.is_inference():
        raise RuntimeError(
            "Class activation maps need gradients, which torch.inference_mode() forbids. "
            "Call camkit outside inference mode (torch.no_grad() is fine), with a tensor made outside it."
        )
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values; clean the input before explaining it.")


def check_positive_int(name: str, value: object, meaning: str = "") -> None:
    """Raise a clear error unless ``value`` is an int >= 1 (``meaning`` says what it counts)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        what = f" ({meaning})" if meaning else ""
        raise ValueError(f"{name} must be a positive int{what}, got {value!r}.")


def baseline_input(baseline: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The reference input X_b as x's shape, dtype and device: a number fills it, a tensor must match x."""
    tensor = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    if tensor.dim() and tensor.shape != x.shape:
        raise ValueError(f"baseline must be a number or have x's shape {tuple(x.shape)}, got {tuple(tensor.shape)}.")
    return tensor.expand_as(x)


def channel_batches(selected: torch.Tensor, batch_size: int) -> list[tuple[int, torch.Tensor]]:
    """The per-channel passes of a (B, K) boolean selection: (sample b, up to ``batch_size`` of its
    selected channel indices), sample by sample."""
    return [(b, channels) for b in range(len(selected)) for channels in selected[b].nonzero()[:, 0].split(batch_size)]


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max scale each map of (B, h, w) to [0, 1]; a constant map becomes all zeros.

    In camkit "normalize" always means this; ImageNet's mean/std step is "standardise".
    """
    flat = maps.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    span = flat.max(dim=1).values[:, None, None] - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1), torch.zeros_like(maps))


def resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, h, w) maps (align_corners=False, like OpenCV's INTER_LINEAR)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def largest_size(maps: list[torch.Tensor]) -> tuple[int, int]:
    """The (h, w) of the map with the most pixels."""
    return max((tuple(m.shape[-2:]) for m in maps), key=lambda hw: hw[0] * hw[1])


def score_function(target: Target, classes: torch.Tensor | None) -> Callable[..., torch.Tensor]:
    """``score(output, rows=None)`` of :class:`CallContext`: the classes a call explains, scored
    in another output; a callable target is called on that output as it is."""

    def score(output: object, rows: torch.Tensor | None = None) -> torch.Tensor:
        if classes is None:
            return target_scores(target, output)[0]
        return target_scores(classes if rows is None else classes[rows], output)[0]

    return score


def _zero_gradient_message(model: nn.Module, layer: str, tokens: bool) -> str:
    """Why a map is empty when the score's gradient is zero on the whole layer, and what to do."""
    message = (f"The score's gradient is zero everywhere on layer {layer!r}: the score does not depend on what the "
               "layer computes at any position, so the map is empty.")
    if not tokens:
        return message + (" A probability saturated at 0 or 1 does this (explain the logit: ClassLogit), and so does a "
                          "score that is 0 whatever the input, such as a segmentation region without a pixel.")
    norms = [name for name, module in model.named_modules() if name.endswith((".ln_1", ".norm1"))]
    where = f"here {norms[-1]!r}" if norms else "in torchvision's vit_b_16 'encoder.layers.encoder_layer_11.ln_1'"
    return (message + " In a vision transformer this happens after the last block, where only the class token reaches "
            f"the head: choose the input of the last block's attention ({where}).")


class ActivationMap:
    """Base class: hooks the target layers during one call and turns each layer's context into a map.

    Subclasses implement :meth:`layer_map`; several layers are combined by :meth:`combine`
    (the mean of the normalised maps, at the largest layer's resolution).  Set
    ``needs_gradient = False`` for a method that reads only activations.  ``reshape`` reads a
    layer whose output is not (B, K, h, w): transformer tokens (:func:`camkit.tokens`),
    channels-last maps (:func:`camkit.channels_last`) or a callable; without it camkit infers the
    reading where it is unambiguous and says so (:mod:`camkit.core.reshape`).
    """

    needs_gradient = True

    def __init__(self, model: nn.Module, layer: LayerSpec | None = None, reshape: object = None) -> None:
        check_model(model)
        self.model = model
        self._layers = None if layer is None else resolve_layers(model, layer)
        self.reshape = as_reshape(reshape)
        self._announced: set[str] = set()  # layers whose inferred reading was announced

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
        """Run the model once on x and explain ``target`` (see :mod:`camkit.core.targets`).

        ``normalize`` min-max scales each map to [0, 1] at the layer's resolution; ``upsample``
        then resizes it bilinearly to x's (H, W).  With both False you get the raw map.
        """
        check_input(x)
        with explaining(self.model, type(self).__name__):
            if self._layers is None:
                self._layers = [find_default_layer(self.model, x[:1].detach())]
            recorded: dict = {}
            grad_mode = torch.enable_grad() if self.needs_gradient else torch.no_grad()
            with grad_mode, capture_activations(self.model, self._layers) as captured:
                with first_conv_check(self.model), self.forward_hooks(recorded, captured):
                    output = self.model(x)
                scores, classes = target_scores(target, output)
                outputs = [slot.output for slot in captured]
                gradients = self._gradients(scores, outputs, captured)
            context = CallContext(self.model, x, output, scores.detach(), classes, score_function(target, classes),
                                  recorded=recorded)
            size = tuple(x.shape[-2:])
            with torch.no_grad():
                maps = []
                for slot, a, g in zip(captured, outputs, gradients):
                    reshape = self._reading(slot, size)
                    activation = slot.feature_map(a.detach(), reshape, size)
                    gradient = None if g is None else slot.feature_map(g, reshape, size)
                    if gradient is not None and not gradient.any():
                        warn_at_caller(_zero_gradient_message(self.model, slot.name, tokens=a.dim() == 3))
                    if activation.shape[2] * activation.shape[3] == 1:
                        warn_at_caller(
                            f"Layer {slot.name!r} gives a 1x1 map: it cannot say where anything is, and min-max "
                            "normalisation turns it into zeros. Choose an earlier layer with a spatial output."
                        )
                    layer_context = dataclasses.replace(context, layer=slot.name, activation=activation, gradient=gradient,
                                                        reshape=reshape)
                    maps.append(self.layer_map(layer_context).float())
                combined = maps[0] if len(maps) == 1 else self.combine(maps)
                if normalize:
                    combined = normalize_maps(combined)
                if upsample:
                    combined = resize_maps(combined, tuple(x.shape[-2:]))
        logits = output.detach() if isinstance(output, torch.Tensor) else output
        return MapResult(combined, logits, classes, [name for name, _ in self._layers])

    def _reading(self, slot: CapturedLayer, input_size: tuple[int, int]) -> Reshape | None:
        """The reshape for ``slot``: the user's, or the inferred one, announced once per layer."""
        if self.reshape is not None:
            return self.reshape
        inferred, why = slot.inferred_reshape()
        if inferred is not None and slot.name not in self._announced:
            description = inferred.describe(slot.output, input_size)  # raises where no reading fits
            self._announced.add(slot.name)
            warn_at_caller(
                f"camkit reads layer {slot.name!r}'s output {tuple(slot.output.shape)} {description} ({why}); "
                "pass reshape=... to choose otherwise."
            )
        return inferred

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
    def forward_hooks(self, recorded: dict, captured: list[CapturedLayer]) -> Iterator[None]:
        """Extra hooks a method needs during the forward pass (none by default).

        What they keep goes into ``recorded``, which reaches :meth:`layer_map` as ``context.recorded``.
        """
        yield

    def layer_map(self, context: CallContext) -> torch.Tensor:
        """The raw map (B, h, w) of one layer, from ``context.activation`` (and ``context.gradient``)."""
        raise NotImplementedError

    def combine(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Several layers: mean of the min-max normalised maps at the largest resolution."""
        size = largest_size(maps)
        return torch.stack([resize_maps(normalize_maps(m), size) for m in maps]).mean(dim=0)
