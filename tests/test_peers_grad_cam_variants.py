"""Grad-CAM++, XGrad-CAM, HiResCAM and Eigen-CAM against their definitions and the peers that have them.

Models, batch, classes and layers as in tests/test_peers.py (seeded random torchvision models).
The definitions (tests/reference.py) run on out-of-place copies of the models, in float64 where
they divide, and Eigen-CAM's by an eigendecomposition instead of camkit's SVD.

Peers: pytorch-grad-cam 1.5.7 (GradCAMPlusPlus, XGradCAM, HiResCAM, EigenCAM) and torchcam 0.5.0
(GradCAMpp, XGradCAM).  Where a peer differs, the test measures it and reproduces the cause:

* torchcam's GradCAMpp computes ``alpha[idx][mask].div_(denominator)``: boolean indexing makes a
  copy, the division lands in it, and alpha stays g^2.  Its map equals ReLU(sum_k w_k A^k) with
  w_k = sum_ij g_ij^2 ReLU(g_ij) to 1e-5, and is not Grad-CAM++.
* pytorch-grad-cam's GradCAMPlusPlus adds 1e-6 to alpha's denominator.  Where the layer feeds
  global average pooling the gradient is W / Z, so g^2 is about that size and the eps moves the
  normalised map by 4e-4 to 1e-3 (ResNet18, ShuffleNetV2); its map equals the formula with the eps.
* pytorch-grad-cam's EigenCAM keeps the SVD's arbitrary sign: its projection equals camkit's or
  its negative, and after its ReLU the map is either camkit's or the complement.
"""

from __future__ import annotations

import copy

import pytest
import torch

import camkit
from camkit import resize_maps
from camkit.core.eigen_cam import principal_projection

from .peer_adapters import CLASSES, CLEAN_LAYERS, INPLACE_LAYERS, make_input, one_thread  # noqa: F401 (a fixture)
from .peer_adapters import shared_model as model_named
from .reference import activation_and_gradient, eigen_projection, grad_cam_plus_plus, hires_cam, min_max, xgrad_cam

pytestmark = [
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations:UserWarning"),
    pytest.mark.usefixtures("one_thread"),
]

METHODS = {"gradcampp": camkit.GradCAMPlusPlus, "xgradcam": camkit.XGradCAM, "hirescam": camkit.HiResCAM}
DEFINITIONS = {"gradcampp": grad_cam_plus_plus, "xgradcam": xgrad_cam, "hirescam": hires_cam}
GAP_LAYERS = {"resnet18": "layer4", "shufflenet_v2_x1_0": "conv5"}


def raw_maps(method: str, model_name: str, layer: str) -> torch.Tensor:
    return METHODS[method](model_named(model_name), layer)(make_input(), CLASSES, upsample=False, normalize=False)


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


# ------------------------------------------------------------------------------ definitions
@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("model_name, layer", [*CLEAN_LAYERS.items(), *INPLACE_LAYERS.items()])
def test_equal_to_the_definition(method: str, model_name: str, layer: str) -> None:
    activation, gradient = activation_and_gradient(model_named(model_name), layer, make_input(), CLASSES)
    expected = DEFINITIONS[method](activation, gradient)
    assert expected.flatten(1).amax(dim=1).min() > 0  # not a vacuous comparison
    assert relative_difference(raw_maps(method, model_name, layer), expected) < 1e-5


@pytest.mark.parametrize("model_name, layer", [*CLEAN_LAYERS.items(), *INPLACE_LAYERS.items()])
def test_eigen_cam_is_the_first_principal_component(model_name: str, layer: str) -> None:
    activation, _ = activation_and_gradient(model_named(model_name), layer, make_input(), CLASSES)
    expected = eigen_projection(activation)
    assert relative_difference(principal_projection(activation), expected) < 1e-4
    ours = camkit.EigenCAM(model_named(model_name), layer)(make_input(), CLASSES, upsample=False, normalize=False)
    assert relative_difference(ours, expected.clamp(min=0)) < 1e-4


# -------------------------------------------------------------------------------- identities
@pytest.mark.parametrize("model_name, layer", GAP_LAYERS.items())
def test_at_a_gap_layer_hires_and_xgrad_equal_grad_cam(model_name: str, layer: str) -> None:
    grad_cam = camkit.GradCAM(model_named(model_name), layer)(make_input(), CLASSES, upsample=False, normalize=False)
    for method in ("hirescam", "xgradcam"):
        assert relative_difference(raw_maps(method, model_name, layer), grad_cam) < 1e-5


def test_behind_a_flatten_and_fc_head_hires_differs_from_grad_cam() -> None:
    model, layer = model_named("vgg11"), CLEAN_LAYERS["vgg11"]
    grad_cam = camkit.GradCAM(model, layer)(make_input(), CLASSES, upsample=False)
    assert (camkit.HiResCAM(model, layer)(make_input(), CLASSES, upsample=False) - grad_cam).abs().max() > 0.05


def test_eigen_cam_does_not_depend_on_the_target() -> None:
    model, layer = model_named("resnet18"), "layer4"
    first = camkit.EigenCAM(model, layer)(make_input(), CLASSES)
    assert torch.equal(first, camkit.EigenCAM(model, layer)(make_input(), [0, 1, 2]))
    assert torch.equal(first, camkit.EigenCAM(model, layer)(make_input()))


# ------------------------------------------------------------------------------------- peers
def pytorch_grad_cam_maps(method: str, model_name: str, layer: str) -> torch.Tensor:
    from pytorch_grad_cam import EigenCAM, GradCAMPlusPlus, HiResCAM, XGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = copy.deepcopy(model_named(model_name))
    peer = {"gradcampp": GradCAMPlusPlus, "xgradcam": XGradCAM, "hirescam": HiResCAM, "eigencam": EigenCAM}[method]
    with peer(model, [model.get_submodule(layer)]) as cam:
        return torch.from_numpy(cam(make_input(), [ClassifierOutputTarget(c) for c in CLASSES]))


def peer_form(maps: torch.Tensor) -> torch.Tensor:
    """Low-resolution raw maps as pytorch-grad-cam returns them: scaled, resized, scaled again."""
    return min_max(resize_maps(min_max(maps), tuple(make_input().shape[-2:])))


@pytest.mark.parametrize("method", ["xgradcam", "hirescam"])
@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_equal_to_pytorch_grad_cam(method: str, model_name: str) -> None:
    layer = CLEAN_LAYERS[model_name]
    ours = min_max(METHODS[method](model_named(model_name), layer)(make_input(), CLASSES))  # it rescales after resizing
    assert (pytorch_grad_cam_maps(method, model_name, layer) - ours).abs().max() < 1e-4


@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_pytorch_grad_cam_plus_plus_is_the_formula_with_an_eps(model_name: str) -> None:
    layer = CLEAN_LAYERS[model_name]
    theirs = pytorch_grad_cam_maps("gradcampp", model_name, layer)
    activation, gradient = activation_and_gradient(model_named(model_name), layer, make_input(), CLASSES)
    assert (theirs - peer_form(grad_cam_plus_plus(activation, gradient, eps=1e-6))).abs().max() < 1e-4
    difference = (theirs - min_max(camkit.GradCAMPlusPlus(model_named(model_name), layer)(make_input(), CLASSES))).abs().max()
    if model_name in GAP_LAYERS:
        assert difference > 1e-4  # the eps is not negligible next to g^2 = (W / Z)^2
    else:
        assert difference < 1e-4


@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_eigen_cam_equals_pytorch_grad_cam_up_to_the_sign(model_name: str) -> None:
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    layer = CLEAN_LAYERS[model_name]
    activation, _ = activation_and_gradient(model_named(model_name), layer, make_input(), CLASSES)
    theirs = torch.from_numpy(get_2d_projection(activation.numpy()))
    ours = principal_projection(activation)
    signs = torch.sign((ours * theirs).flatten(1).sum(dim=1))[:, None, None]
    assert relative_difference(ours, signs * theirs) < 1e-4


@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_xgrad_cam_equals_torchcam(model_name: str) -> None:
    from torchcam.methods import XGradCAM

    model, layer = model_named(model_name), CLEAN_LAYERS[model_name]
    with XGradCAM(model, layer) as extractor:
        (theirs,) = extractor(CLASSES, model(make_input()))
    ours = camkit.XGradCAM(model, layer)(make_input(), CLASSES, upsample=False)
    assert (theirs - ours).abs().max() < 1e-5


@pytest.mark.parametrize("model_name", list(CLEAN_LAYERS))
def test_torchcam_grad_cam_pp_keeps_alpha_at_g_squared(model_name: str) -> None:
    from torchcam.methods import GradCAMpp

    model, layer = model_named(model_name), CLEAN_LAYERS[model_name]
    with GradCAMpp(model, layer) as extractor:
        (theirs,) = extractor(CLASSES, model(make_input()))
    activation, gradient = activation_and_gradient(model, layer, make_input(), CLASSES)
    weights = (gradient.pow(2) * gradient.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    assert (theirs - min_max((weights * activation).sum(dim=1).clamp(min=0))).abs().max() < 1e-5
    ours = camkit.GradCAMPlusPlus(model, layer)(make_input(), CLASSES, upsample=False)
    assert (theirs - ours).abs().max() > 0.01
