"""Models, definition references and one adapter per peer library for tests/test_peers.py.

Every adapter takes (model, layer name, x, classes) and returns a ``torch.Tensor`` in the form the
library gives it, so the tests can state plainly what they compare:

* pytorch-grad-cam 1.5.7 returns maps upsampled to x's size as numpy arrays.  It min-max scales
  each low-resolution map (``img / (1e-7 + max)``), resizes it with ``cv2.resize`` (INTER_LINEAR,
  the same half-pixel bilinear rule as ``F.interpolate(align_corners=False)``), and then, in
  ``BaseCAM.aggregate_multi_layers``, min-max scales the *upsampled* map once more.  A bilinear
  resize does not reproduce an interior peak, so its maps equal camkit's upsampled maps min-max
  scaled again, not camkit's upsampled maps themselves.
* torchcam 0.5.0 returns low-resolution maps, min-max scaled with ``/ (max + 1e-8)``.
* captum 0.9.0 returns raw low-resolution Grad-CAM maps and raw input gradients.

Peers run on the model they are given; the tests give each call its own ``copy.deepcopy``,
because pytorch-grad-cam fills every parameter's ``.grad`` (``loss.backward``) and its
``GuidedBackpropReLUModel`` swaps the model's ReLU modules (see ``test_peer_side_effects``).

The models are torchvision's with seeded random weights, made well scaled so that raw maps are
far above the peers' epsilons: every ``nn.Linear`` is redrawn with He initialisation and every
BatchNorm gets running statistics estimated on a random batch.  With torchvision's own init the
raw Grad-CAM maps of VGG, AlexNet and ShuffleNet are 1e-7 .. 1e-3, where torchcam's ``+ 1e-8``
alone moves a normalised map by up to 3e-2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest
import torch
import torchvision
from torch import nn

from .reference import grad_cam, layer_cam

INPUT_SIZE = (96, 128)  # (H, W), not square, so a swapped width and height would show
BATCH = 3
CLASSES = [7, 420, 911]  # three different classes, one per sample

# Layers whose output no in-place op changes afterwards (verified in the tests).
CLEAN_LAYERS = {
    "resnet18": "layer4",
    "vgg11": "features.19",
    "alexnet": "features.11",
    "shufflenet_v2_x1_0": "conv5",
}
# Layers whose output an in-place op changes afterwards: conv -> ReLU(inplace=True) (AlexNet,
# VGG), BatchNorm -> ``out += identity`` -> ReLU(inplace=True) (ResNet's BasicBlock).
INPLACE_LAYERS = {
    "alexnet": "features.10",
    "vgg11": "features.18",
    "resnet18": "layer4.1.bn2",
}


# ----------------------------------------------------------------------------- models and inputs

def build_model(name: str, seed: int = 0) -> nn.Module:
    """A torchvision classifier with seeded, well-scaled random weights, in eval mode."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    _estimate_batchnorm_statistics(model)
    _scale_logits(model.eval())
    return model


def _scale_logits(model: nn.Module, std: float = 10.0) -> None:
    """Scale the last linear layer so that the logits of a random batch have standard deviation ``std``.

    A trained classifier's logits spread over about that range; raw maps scale with them.
    """
    last_linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        factor = std / model(torch.randn(8, 3, *INPUT_SIZE)).std().item()
        last_linear.weight.mul_(factor)
        last_linear.bias.mul_(factor)


def _estimate_batchnorm_statistics(model: nn.Module) -> None:
    """Replace the initial running statistics (mean 0, variance 1) by those of a random batch."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one batch gives exactly its statistics
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, *INPUT_SIZE))
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


@functools.cache
def shared_model(name: str) -> nn.Module:
    """:func:`build_model`, built once while a test module runs (callers only read it)."""
    return build_model(name)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread for a test module (the two cores are shared); its models freed afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
    shared_model.cache_clear()


def make_input(seed: int = 1) -> torch.Tensor:
    """A seeded random batch (BATCH, 3, H, W)."""
    return torch.randn(BATCH, 3, *INPUT_SIZE, generator=torch.Generator().manual_seed(seed))


def output_modified_in_place(model: nn.Module, layer: str, x: torch.Tensor) -> bool:
    """Whether the forward pass changes the layer's output tensor in place after the layer ran."""
    seen: dict[str, tuple[torch.Tensor, int]] = {}

    def remember(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        seen["output"] = (output, output._version)

    handle = model.get_submodule(layer).register_forward_hook(remember)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    output, version = seen["output"]
    return output._version != version


# ----------------------------------------------------------------------------- definition reference

DEFINITIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "gradcam": grad_cam,
    "layercam": layer_cam,
}


# ----------------------------------------------------------------------------- peers

def pytorch_grad_cam_map(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """pytorch-grad-cam's GradCAM / LayerCAM: normalised maps at x's size (B, H, W)."""
    from pytorch_grad_cam import GradCAM, LayerCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_class = {"gradcam": GradCAM, "layercam": LayerCAM}[method]
    with cam_class(model, [model.get_submodule(layer)]) as cam:
        maps = cam(x, [ClassifierOutputTarget(c) for c in classes])
    return torch.from_numpy(maps)


def torchcam_map(method: str, model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """torchcam's CAM / GradCAM / LayerCAM: normalised maps at the layer's resolution (B, h, w)."""
    from torchcam.methods import CAM, GradCAM, LayerCAM

    if method == "cam":
        extractor = CAM(model, layer, fc_layer="fc")
    else:
        extractor = {"gradcam": GradCAM, "layercam": LayerCAM}[method](model, layer)
    with extractor:
        scores = model(x)
        (maps,) = extractor(classes, scores)
    return maps


def captum_grad_cam(model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """captum's LayerGradCam with ``relu_attributions=True``: raw maps at the layer's resolution."""
    from captum.attr import LayerGradCam

    maps = LayerGradCam(model, model.get_submodule(layer)).attribute(x, classes, relu_attributions=True)
    return maps[:, 0].detach()


def captum_guided_backprop(model: nn.Module, x: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """captum's GuidedBackprop: the guided input gradient (B, 3, H, W)."""
    from captum.attr import GuidedBackprop

    return GuidedBackprop(model).attribute(x.clone(), classes).detach()


def captum_guided_grad_cam(model: nn.Module, layer: str, x: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """captum's GuidedGradCam, bilinear: raw upsampled Grad-CAM x guided gradient (B, 3, H, W)."""
    from captum.attr import GuidedGradCam

    attribution = GuidedGradCam(model, model.get_submodule(layer)).attribute(
        x.clone(), classes, interpolate_mode="bilinear"
    )
    return attribution.detach()


def gradient_tolerance(reference: torch.Tensor) -> dict[str, float]:
    """allclose tolerances for input gradients: rtol 1e-4, atol 1e-6 x max|reference|."""
    scale = reference.abs().max().item()
    return {"rtol": 1e-4, "atol": 1e-6 * scale if scale > 0 else 1e-12}


def describe_model_changes(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """Names of the parts of :func:`model_fingerprint` that differ."""
    return sorted(key for key in before if before[key] != after[key])


def model_fingerprint(model: nn.Module) -> dict[str, object]:
    """What a well-behaved attribution call leaves as it found it."""
    modules = list(model.named_modules())
    return {
        "module types": [(name, type(m).__name__) for name, m in modules],
        "training flags": [m.training for _, m in modules],
        "inplace flags": [getattr(m, "inplace", None) for _, m in modules],
        "hooks": sum(
            len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for _, m in modules
        ),
        "parameter .grad": [name for name, p in model.named_parameters() if p.grad is not None],
        "requires_grad": [p.requires_grad for p in model.parameters()],
    }
