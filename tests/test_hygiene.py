"""After any call, finished or failed, the model is exactly as it was."""

import gc

import pytest
import torch
import torchvision
from torch import nn

import camkit

from .tiny import X, tiny_net


def small_resnet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)


def methods(model: nn.Module) -> dict:
    """Every registered method (at layer4 when it takes a layer), and LayerCAM fusing two layers."""
    calls = {}
    for name in camkit.available_methods():
        info = camkit.method_info(name)
        calls[name] = lambda x, t, info=info: info.create(model, "layer4" if info.takes_layer else None)(x, t)
    calls["layercam-two-layers"] = lambda x, t: camkit.LayerCAM(model, ["layer3", "layer4"])(x, t)
    return calls


def snapshot(model: nn.Module) -> dict:
    return {
        "modules": [(name, id(m)) for name, m in model.named_modules()],
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "inplace": [getattr(m, "inplace", None) for m in model.modules()],
        "hooks": sum(
            len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
            for m in model.modules()
        ),
        "grads": [p.grad for p in model.parameters()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    for key in ("modules", "training", "requires_grad", "inplace", "hooks"):
        assert after[key] == before[key], key
    assert all(g is None for g in after["grads"]), "a parameter .grad was touched"
    for name, value in before["state"].items():
        assert torch.equal(after["state"][name], value), name


@pytest.mark.parametrize("method", list(methods(nn.Identity())))
@pytest.mark.parametrize("mode", ["eval", "train-with-eval-bn", "frozen"])
def test_model_unchanged_after_a_call(method, mode):
    model = small_resnet().eval()
    if mode == "train-with-eval-bn":
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    if mode == "frozen":
        model.requires_grad_(False)
    before = snapshot(model)
    maps = methods(model)[method](torch.randn(2, 3, 64, 64), [1, 2])
    assert torch.isfinite(maps).all()
    assert_unchanged(model, before)


@pytest.mark.parametrize("method", list(methods(nn.Identity())))
def test_model_unchanged_after_a_call_that_raises(method):
    model = small_resnet().eval()
    before = snapshot(model)
    with pytest.raises(ValueError, match="out of range"):
        methods(model)[method](torch.randn(2, 3, 64, 64), [1, 10])  # fails after the forward pass
    assert_unchanged(model, before)


def test_works_inside_no_grad_with_frozen_parameters():
    model = small_resnet().eval().requires_grad_(False)
    x = torch.randn(2, 3, 64, 64)
    expected = camkit.GradCAM(model, "layer4")(x)
    with torch.no_grad():
        maps = camkit.GradCAM(model, "layer4")(x)
        guided = camkit.GuidedBackprop(model)(x)
    torch.testing.assert_close(maps, expected)
    assert guided.abs().sum() > 0


def test_inference_mode_is_refused():
    model = small_resnet().eval()
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        camkit.GradCAM(model, "layer4")(torch.randn(1, 3, 64, 64))
    with torch.inference_mode():
        made_inside = torch.randn(1, 3, 64, 64)
    with pytest.raises(RuntimeError, match="inference_mode"):
        camkit.GradCAM(model, "layer4")(made_inside)


def _tensor_count() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) in (torch.Tensor, nn.Parameter))


def test_memory_does_not_grow_over_repeated_calls():
    model = small_resnet().eval()
    x = torch.randn(2, 3, 64, 64)
    calls = methods(model)
    for call in calls.values():
        call(x, None)
    baseline = _tensor_count()
    for _ in range(5):
        for call in calls.values():
            call(x, None)
    assert _tensor_count() <= baseline


def test_maps_live_on_the_input_device_as_float32():
    model = tiny_net().double()
    maps = camkit.GradCAM(model, "conv")(X.double(), 1)
    assert maps.dtype == torch.float32 and maps.device == X.device and maps.shape == (1, 2, 2)


def test_constant_map_normalises_to_zeros_not_nan():
    # class 0 at the conv layer of the tiny net with x = 0 gives an all-zero map (its gradient is zero: said)
    with pytest.warns(UserWarning, match="gradient is zero everywhere on layer 'conv'"):
        maps = camkit.GradCAM(tiny_net(), "conv")(torch.zeros(1, 1, 2, 2), 0)
    assert torch.equal(maps, torch.zeros(1, 2, 2))


def test_auto_layer_warns_with_its_name():
    model = small_resnet().eval()
    with pytest.warns(UserWarning, match="'layer4'"):
        cam = camkit.GradCAM(model)
        cam(torch.randn(1, 3, 64, 64))
    assert cam.layer_names == ["layer4"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("vgg11", "features.19"), ("alexnet", "features.11"), ("shufflenet_v2_x1_0", "conv5"), ("densenet121", "features")],
)
def test_auto_layer_on_torchvision_models(name, expected):
    model = torchvision.models.get_model(name).eval()
    cam = camkit.GradCAM(model)
    with pytest.warns(UserWarning, match=repr(expected)):
        cam(torch.randn(1, 3, 96, 96))
