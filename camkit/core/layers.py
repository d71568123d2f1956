"""Which layer to explain: resolving what the user wrote, auto-picking one, and refusing bad ones.

* :func:`check_model` refuses what forward hooks cannot see into: TorchScript (scripted or traced)
  and ``torch.compile``'d models, naming the eager module to pass instead.
* :func:`resolve_layers` turns a dotted name, a module or a list of them into ``(name, module)``
  pairs, with close names for a typo.
* :func:`is_spatial_map` is the one test of "a feature map camkit can explain": a 4-D tensor with
  more than one pixel.  :func:`find_default_layer` picks the last module whose output passes it.
* :func:`channels_last_reason` recognises a (B, H, W, C) tensor (a transformer's LayerNorm or
  Linear output) that would otherwise be read as (B, K, h, w) (:mod:`.reshape` then reads it).
* :func:`first_conv_check` compares the input with the first convolution the model *runs*.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from .guard import warn_at_caller

LayerSpec = str | nn.Module | Sequence[str | nn.Module]

_POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d)


def check_model(model: object) -> None:
    """Raise a clear error for models camkit cannot hook."""
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            "This model is a TorchScript module (torch.jit.script or torch.jit.trace): it runs compiled code "
            "that forward hooks cannot see into, and its flags are constants. Explain the eager nn.Module "
            "you scripted or traced instead."
        )
    if hasattr(model, "_orig_mod") and type(model).__name__ == "OptimizedModule":
        raise TypeError(
            "This model was compiled with torch.compile: hooks added after compilation are not seen by "
            "the compiled graph. Explain the eager module instead: model._orig_mod."
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}.")


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


_LAYER_KINDS = "a dotted name such as 'layer4', an nn.Module of the model, a list of them, or None (auto-pick)"


def resolve_layers(model: nn.Module, layer: LayerSpec) -> list[tuple[str, nn.Module]]:
    """Return ``[(name, module), ...]`` for the requested layers (not ``None``: see find_default_layer)."""
    if isinstance(layer, (str, nn.Module)):
        specs = [layer]
    elif isinstance(layer, Sequence):
        specs = list(layer)
    else:
        raise TypeError(f"layer must be {_LAYER_KINDS}; got {type(layer).__name__} {layer!r}.")
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
            raise TypeError(f"Each layer must be {_LAYER_KINDS}; got {type(spec).__name__} {spec!r}.")
    return resolved


def is_spatial_map(output: object) -> bool:
    """True for a 4-D tensor with more than one pixel: a feature map a class activation map can show."""
    return isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[2] * output.shape[3] > 1


def channels_last_reason(module: nn.Module, output: torch.Tensor) -> str | None:
    """Why a 4-D ``output`` of ``module`` is laid out (B, H, W, C), or None when nothing says so.

    An ``nn.Linear`` works on the last dimension, and so does an ``nn.LayerNorm`` over it (not
    torchvision's channels-first ``LayerNorm2d``, a subclass): their 4-D outputs are channels-last.
    """
    if output.dim() != 4:
        return None
    if type(module) is nn.Linear:
        return "an nn.Linear, which works on the last dimension"
    if type(module) is nn.LayerNorm and tuple(module.normalized_shape) == (output.shape[-1],):
        return "an nn.LayerNorm, which normalises over the last dimension"
    return None


@contextlib.contextmanager
def channels_last_consumers(model: nn.Module, watched: dict[int, tuple[torch.Tensor, list[str]]]) -> Iterator[None]:
    """Notice a watched tensor entering an ``nn.Linear`` or a last-dimension ``nn.LayerNorm``.

    ``watched`` maps ``id(tensor)`` to ``(tensor, reasons)``; such a use appends a reason: the
    tensor is channels-last even when the layer that made it (Swin's ``features``, a Sequential)
    does not say so itself.
    """

    def pre_hook(module: nn.Module, inputs: tuple) -> None:
        entry = watched.get(id(inputs[0])) if inputs else None
        if entry is not None and entry[0] is inputs[0]:
            reason = channels_last_reason(module, inputs[0])
            if reason is not None:
                entry[1].append(f"the next module is {reason}")

    handles = [m.register_forward_pre_hook(pre_hook) for m in model.modules() if type(m) in (nn.Linear, nn.LayerNorm)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def module_outputs(model: nn.Module, example: torch.Tensor) -> list[tuple[nn.Module, object]]:
    """``(module, output)`` of every module call in one no-grad forward pass, in the order they end.

    The hooks are removed before returning, also when the forward pass raises.
    """
    outputs: list[tuple[nn.Module, object]] = []
    handles = [m.register_forward_hook(lambda module, _inputs, output: outputs.append((module, output))) for m in model.modules()]
    try:
        with torch.no_grad(), first_conv_check(model):
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def find_default_layer(model: nn.Module, example: torch.Tensor) -> tuple[str, nn.Module]:
    """Pick the last module whose output is a spatial map (:func:`is_spatial_map`), channels-first.

    ``example`` is one input the model takes (the caller has put the model in eval mode).
    Pooling modules are skipped, and the pick climbs to the largest enclosing module that
    returns the very same tensor (``layer4.1.relu`` -> ``layer4``).  The choice is announced
    with a warning that names it.
    """
    outputs = [(m, out) for m, out in module_outputs(model, example) if isinstance(out, torch.Tensor)]
    leaf_positions = [
        i for i, (m, out) in enumerate(outputs)
        if is_spatial_map(out) and not isinstance(m, _POOLING) and not list(m.children())
        and channels_last_reason(m, out) is None
    ]
    if not leaf_positions:
        raise ValueError("No module of this model returns a 4-D (B, C, H, W) feature map; name the layer explicitly.")
    position = leaf_positions[-1]
    chosen, tensor = outputs[position]
    for module, out in outputs[position + 1 :]:
        if out is tensor:
            chosen = module
    name = module_names(model)[chosen]
    warn_at_caller(f"camkit picked layer {name!r} ({type(chosen).__name__}); pass layer=... to choose another.")
    return name, chosen


@contextlib.contextmanager
def first_conv_check(model: nn.Module) -> Iterator[None]:
    """During the block, the first convolution that *runs* checks its input's channel count.

    A clearer error than PyTorch's, and right for models whose stem is registered after other
    convolutions (the order of ``model.modules()`` is not the order of execution).
    """
    names = module_names(model)
    checked = [False]

    def pre_hook(module: nn.Module, inputs: tuple) -> None:
        if checked[0]:
            return
        checked[0] = True
        channels = inputs[0].shape[1] if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() > 1 else None
        if channels is not None and channels != module.in_channels:
            raise ValueError(
                f"The first convolution the model runs, {names.get(module, type(module).__name__)!r}, takes "
                f"{module.in_channels} channels but receives {channels}; give x the channel count the model "
                f"expects (e.g. 3 for RGB)."
            )

    handles = [m.register_forward_pre_hook(pre_hook) for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
