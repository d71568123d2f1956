"""camkit equals the definitions, also where an in-place op follows the target layer.

A forward hook that keeps the layer's output sees it overwritten by a following in-place ReLU
(AlexNet ``features.10``, VGG's last conv, a BatchNorm before ``ReLU(inplace=True)``) or by an
in-place function (DenseNet's ``F.relu(features, inplace=True)``).  The references come from
tests/reference.py, which computes each definition on an out-of-place copy.
"""

import pytest
import torch
import torch.nn.functional as F
import torchvision

import camkit

from .reference import activation_and_gradient, grad_cam, layer_cam, min_max, rule_gradient


def densenet_out_of_place(model, x):
    return model.classifier(torch.flatten(F.adaptive_avg_pool2d(F.relu(model.features(x)), 1), 1))


CASES = {
    "alexnet features.10 (conv, in-place ReLU next)": ("alexnet", "features.10", 96, None),
    "vgg11 features.18 (last conv, in-place ReLU next)": ("vgg11", "features.18", 64, None),
    "vgg11_bn features.26 (BatchNorm, in-place ReLU next)": ("vgg11_bn", "features.26", 64, None),
    "densenet121 features (F.relu(inplace=True) next)": ("densenet121", "features", 64, densenet_out_of_place),
    "resnet18 layer3 (no in-place op next)": ("resnet18", "layer3", 64, None),
}


def random_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None).eval()


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def case(request):
    name, layer, size, forward = CASES[request.param]
    model = random_model(name)
    torch.manual_seed(1)
    x = torch.randn(3, 3, size, size)
    classes = torch.tensor([1, 500, 999])
    activation, gradient = activation_and_gradient(model, layer, x, classes, forward)
    return model, layer, x, classes, activation, gradient


@pytest.mark.parametrize(("method", "definition"), [(camkit.GradCAM, grad_cam), (camkit.LayerCAM, layer_cam)])
def test_maps_equal_the_definition(case, method, definition):
    model, layer, x, classes, activation, gradient = case
    expected = definition(activation, gradient)
    raw = method(model, layer)(x, classes, upsample=False, normalize=False)
    torch.testing.assert_close(raw, expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item())
    normalized = method(model, layer)(x, classes, upsample=False)
    torch.testing.assert_close(normalized, min_max(expected), rtol=0, atol=1e-5)
    assert normalized.amax() > 0.99, "the reference maps should not all be empty"


@pytest.mark.parametrize("name", ["vgg11", "resnet18"])
@pytest.mark.parametrize(
    ("method", "rule"),
    [(camkit.InputGradient, "gradient"), (camkit.Deconvnet, "deconvnet"), (camkit.GuidedBackprop, "guided")],
)
def test_relu_rules_equal_module_replacement(name, method, rule):
    model = random_model(name)
    x = torch.randn(2, 3, 64, 64)
    classes = torch.tensor([3, 7])
    expected = rule_gradient(model, x, classes, rule)
    actual = method(model)(x, classes)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-6 * expected.abs().max().item())


@pytest.mark.parametrize(
    ("method", "rule"),
    [(camkit.InputGradient, "gradient"), (camkit.Deconvnet, "deconvnet"), (camkit.GuidedBackprop, "guided")],
)
def test_relu6_rules_with_saturated_units(method, rule):
    """ReLU6 (in place and not) passes gradients only where 0 < x < 6; about 10% of units saturate here."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU6(inplace=True), torch.nn.Conv2d(4, 4, 3), torch.nn.ReLU6(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).eval()
    with torch.no_grad():
        net[0].weight.mul_(8)
    x = torch.randn(2, 3, 10, 10)
    assert (net[0](x) > 6).float().mean() > 0.05
    classes = torch.tensor([1, 2])
    torch.testing.assert_close(method(net)(x, classes), rule_gradient(net, x, classes, rule), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("name", "layer"), [("resnet18", "layer4"), ("shufflenet_v2_x1_0", "conv5")])
def test_grad_cam_times_z_equals_relu_cam(name, layer):
    """Grad-CAM paper, section 3.1: for GAP + linear, alpha_k^c = w_k^c / Z, so Grad-CAM * Z = ReLU(CAM)."""
    model = random_model(name)
    x = torch.randn(3, 3, 96, 96)
    classes = [0, 10, 20]
    grad_cam_raw = camkit.GradCAM(model, layer)(x, classes, upsample=False, normalize=False)
    cam_raw = camkit.CAM(model, layer)(x, classes, upsample=False, normalize=False)
    h, w = cam_raw.shape[-2:]
    torch.testing.assert_close(grad_cam_raw * (h * w), F.relu(cam_raw), rtol=0, atol=1e-5 * cam_raw.abs().max().item())
