"""Grad-CAM and LayerCAM on torchvision's vision transformer, Swin and ConvNeXt, with seeded random
weights at small resolution.

Golden values: the definitions (tests/reference.py) applied by hand to the layer's output and
gradient, reshaped by hand; and pytorch-grad-cam with its ``reshape_transform``, in its own form
(tests/peer_adapters.py explains it).  camkit infers each reading itself here and announces it.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from pytorch_grad_cam import GradCAM as PgcGradCAM
from pytorch_grad_cam import LayerCAM as PgcLayerCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import camkit

from .peer_adapters import one_thread  # noqa: F401 - a fixture
from .reference import activation_and_gradient, grad_cam, layer_cam

METHODS = {"gradcam": (camkit.GradCAM, PgcGradCAM, grad_cam), "layercam": (camkit.LayerCAM, PgcLayerCAM, layer_cam)}


def small_vit() -> torch.nn.Module:
    """vit_b_16 for 96 px inputs; torchvision starts its head at zero (every gradient would be zero): redrawn."""
    model = torchvision.models.vit_b_16(image_size=96)
    torch.nn.init.normal_(model.heads.head.weight, std=0.1)
    return model


def vit_tokens_to_grid(tensor: torch.Tensor) -> torch.Tensor:
    """vit_b_16 at 96 px: a class token, then 6 x 6 patches."""
    return tensor[:, 1:].reshape(len(tensor), 6, 6, tensor.shape[-1]).permute(0, 3, 1, 2)


def channels_last_to_first(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.permute(0, 3, 1, 2)


# (model, its input size (H, W), the layer, how its output is laid out, what camkit announces)
CASES = {
    # The input of the last block's attention: the class token reads every patch there (after the
    # last block, the patches no longer reach the class token, and their gradient is zero).
    "vit_b_16": (small_vit, (96, 96), "encoder.layers.encoder_layer_11.ln_1",
                 vit_tokens_to_grid, r"as tokens: 1 leading token\(s\) left out .*then a 6 x 6 grid"),
    "swin_t": (torchvision.models.swin_t, (128, 96), "features.7", channels_last_to_first,
               r"\(2, 4, 3, 768\) as channels-last .*the next module is an nn.LayerNorm"),
    "convnext_tiny": (torchvision.models.convnext_tiny, (96, 128), "features.7.2.block.2", channels_last_to_first,
                      r"\(2, 3, 4, 768\) as channels-last .*the layer is an nn.LayerNorm"),
}


@pytest.fixture(scope="module")
def built():
    """Each model with seeded random weights, its input and two classes, built once."""
    models = {}
    for name, (make, size, *_rest) in CASES.items():
        torch.manual_seed(0)
        models[name] = (make().eval(), torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1)), [3, 917])
    return models


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", CASES)
def test_maps_equal_the_definition_on_the_reshaped_layer_and_pytorch_grad_cam(name, method, built, one_thread):  # noqa: F811
    model, x, classes = built[name]
    _, _, layer, to_grid, announced = CASES[name]
    ours_class, peer_class, definition = METHODS[method]
    with pytest.warns(UserWarning, match=announced):
        raw = ours_class(model, layer)(x, classes, upsample=False, normalize=False)
    activation, gradient = activation_and_gradient(model, layer, x, classes)
    by_hand = definition(to_grid(activation), to_grid(gradient))
    assert by_hand.amax() > 0
    assert torch.allclose(raw, by_hand, rtol=1e-4, atol=1e-5 * by_hand.abs().max().item())
    copied = copy.deepcopy(model)
    with peer_class(copied, [copied.get_submodule(layer)], reshape_transform=to_grid) as cam:
        theirs = torch.from_numpy(cam(x, [ClassifierOutputTarget(c) for c in classes]))
    ours = camkit.normalize_maps(ours_class(model, layer, reshape=to_grid)(x, classes))
    assert (theirs - ours).abs().max() < 1e-4


def test_after_the_last_vit_block_the_patches_get_no_gradient(built):
    model, x, classes = built["vit_b_16"]
    with pytest.warns(UserWarning, match="as tokens"), pytest.warns(UserWarning, match=r"gradient is zero everywhere.*attention \(here 'encoder.layers.encoder_layer_11.ln_1'\)"):
        maps = camkit.GradCAM(model, "encoder.layers.encoder_layer_11")(x, classes, normalize=False)
    assert (maps == 0).all()  # only the class token reaches the head: why notebook 15 hooks ln_1
    with pytest.warns(UserWarning, match="as tokens"):
        assert camkit.GradCAM(model, "encoder.layers.encoder_layer_10")(x, classes, normalize=False).amax() > 0  # one block earlier
