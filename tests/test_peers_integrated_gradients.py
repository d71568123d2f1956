"""Integrated Gradients: equal to captum 0.9.0's right Riemann sum, independent of the batch size
(on a smooth network; at ReLU and max-pool kinks only up to float rounding),
and complete in the limit (the error of sum(IG) = y(x) - y(x') falls as the steps grow)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import camkit

from .peer_adapters import build_model, make_input


@pytest.mark.parametrize("model_name", ["resnet18", "alexnet", "shufflenet_v2_x1_0"])
def test_equal_to_captum_right_riemann_sum(model_name: str) -> None:
    from captum.attr import IntegratedGradients

    model, x = build_model(model_name), make_input()[:2]
    baseline = torch.full_like(x, -0.5)
    with torch.no_grad():
        classes = model(x).argmax(dim=1)
    ours = camkit.IntegratedGradients(model, steps=16, baseline=-0.5, batch_size=10)(x, classes.tolist())
    # The same 10 images per forward pass on both sides: a convolution over another batch size rounds
    # its sums differently, and where a ReLU or max-pool sits on a near-tie the gradient then takes
    # the other branch at a pixel (measured: 1.3e-3 on ShuffleNetV2 at one thread against captum's one
    # pass of 32; 1e-7 with equal batches).  test_the_batch_size_does_not_change_the_result covers
    # the batching on a smooth network.
    theirs = IntegratedGradients(model).attribute(x, baselines=baseline, target=classes, n_steps=16, method="riemann_right",
                                                  internal_batch_size=10)
    assert ours.abs().max() > 0
    assert ((ours - theirs).abs().max() / theirs.abs().max()).item() < 1e-5


def smooth_net() -> nn.Module:
    """Biases and smooth non-linearities: not homogeneous, so a finite Riemann sum is not exact."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 8, 3, padding=1), nn.Softplus(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def test_completeness_error_falls_with_the_steps() -> None:
    model, x = smooth_net(), torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2
    errors = [camkit.IntegratedGradients(model, steps=steps).compute(x, 1).completeness_error.abs() for steps in (16, 64, 256)]
    # measured: about 1 / steps (a first-order sum), e.g. 3.9e-4, 9.9e-5, 2.5e-5 for the first sample
    assert (errors[0] > 0).all()
    assert (errors[1] < errors[0] / 2).all() and (errors[2] < errors[1] / 2).all()


def test_the_batch_size_does_not_change_the_result() -> None:
    model, x = smooth_net(), torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    one = camkit.IntegratedGradients(model, steps=12, batch_size=1)(x, [0, 3])
    many = camkit.IntegratedGradients(model, steps=12, batch_size=64)(x, [0, 3])
    torch.testing.assert_close(one, many, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("option", [{"steps": 0}, {"batch_size": -1}, {"steps": 2.5}, {"batch_size": True}])
def test_bad_options_are_refused(option: dict) -> None:
    with pytest.raises(ValueError, match="must be a positive int"):
        camkit.IntegratedGradients(smooth_net(), **option)


def test_a_baseline_of_the_wrong_shape_is_refused() -> None:
    model, x = smooth_net(), torch.randn(2, 3, 16, 16)
    with pytest.raises(ValueError, match="baseline must be a number or have x's shape"):
        camkit.IntegratedGradients(model, steps=2, baseline=torch.zeros(1, 3, 16, 16))(x, 0)
