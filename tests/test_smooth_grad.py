"""SmoothGrad: the closed-form expectation on the tiny net (which captum's NoiseTunnel reaches too),
equal to captum's NoiseTunnel draw for draw on three torchvision models, the same map for the same
call, the clean input's class, and maps of any camkit method.

Tiny net (tests/tiny.py): dy^c/dx_ij = W[c, 0]/4 [x_ij > 0] - 2 W[c, 1]/4 [x_ij < 0].  With
x + e, e ~ N(0, sigma^2), the expected gradient is W[c, 0]/4 Phi(x/sigma) - 2 W[c, 1]/4 Phi(-x/sigma);
sigma = noise * (max x - min x) = 0.2 * 5 = 1.  With 2,000 copies the mean's standard error is
at most 0.125 / sqrt(2000) = 0.003: both estimates must land within 0.015 (5 standard errors).
"""

from __future__ import annotations

import math

import pytest
import torch

import camkit

from .peer_adapters import build_model, shared_model
from .tiny import X, tiny_net

SAMPLES = 2000


def expected_gradient(target: int, sigma: float = 1.0) -> torch.Tensor:
    weights = tiny_net().fc.weight[target].detach()
    phi = 0.5 * (1 + torch.erf(X / sigma / math.sqrt(2)))
    return weights[0] / 4 * phi - 2 * weights[1] / 4 * (1 - phi)


@pytest.mark.parametrize("target", [0, 1])
def test_the_mean_gradient_approaches_its_closed_form(target: int) -> None:
    ours = camkit.SmoothGrad(camkit.InputGradient(tiny_net()), samples=SAMPLES, noise=0.2)(X, target)
    assert (ours - expected_gradient(target)).abs().max() < 0.015


def test_captum_noise_tunnel_approaches_the_same_closed_form() -> None:
    from captum.attr import NoiseTunnel, Saliency

    torch.manual_seed(0)
    theirs = NoiseTunnel(Saliency(tiny_net())).attribute(
        X.clone(), nt_type="smoothgrad", nt_samples=SAMPLES, nt_samples_batch_size=500, stdevs=1.0, target=1, abs=False
    )
    assert (theirs - expected_gradient(1)).abs().max() < 0.015


@pytest.mark.parametrize("model_name", ["resnet18", "alexnet", "shufflenet_v2_x1_0"])
def test_equal_to_captum_noise_tunnel_draw_for_draw(model_name: str) -> None:
    """captum draws its noise from torch's global generator, one (1, C, H, W) tensor per sample with
    ``nt_samples_batch_size=1``; seeded like camkit's generator, the draws are the same.  Its sigma
    must be camkit's float32 product (0.15 * range computed in float64 differs in the last bit, which
    is enough to flip a max-pooling choice in AlexNet and move its mean gradient by 1 %)."""
    from captum.attr import NoiseTunnel, Saliency

    model = shared_model(model_name)
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    ours = camkit.SmoothGrad(camkit.InputGradient(model), samples=4, noise=0.15, seed=3)(x, 7)
    torch.manual_seed(3)
    sigma = (0.15 * (x.max() - x.min())).item()
    theirs = NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=4, nt_samples_batch_size=1,
                                                    stdevs=sigma, target=7, abs=False)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6 * theirs.abs().max().item())


def test_zero_noise_gives_the_method_itself() -> None:
    model = build_model("resnet18")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    plain = camkit.GradCAM(model, "layer4")
    torch.testing.assert_close(camkit.SmoothGrad(plain, samples=3, noise=0.0)(x, [3, 5]), plain(x, [3, 5]))
    gradient = camkit.GuidedBackprop(model)
    torch.testing.assert_close(camkit.SmoothGrad(gradient, samples=2, noise=0.0)(x, 3), gradient(x, 3))


def test_the_same_call_gives_the_same_map_and_the_clean_class() -> None:
    model = build_model("alexnet")
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    smooth = camkit.SmoothGrad(camkit.GradCAM(model, "features.11"), samples=4, noise=0.3)
    first = smooth(x)
    assert torch.equal(first, smooth(x))
    with torch.no_grad():
        top1 = model(x).argmax(dim=1)
    assert torch.equal(first, smooth(x, top1))  # every noisy copy explains the clean input's class
    other_seed = camkit.SmoothGrad(camkit.GradCAM(model, "features.11"), samples=4, noise=0.3, seed=1)(x)
    assert not torch.equal(first, other_seed)
    raw = smooth(x, upsample=False, normalize=False)
    assert raw.shape == (2, 5, 5) and first.shape == (2, 96, 96)
    torch.testing.assert_close(smooth(x, upsample=False), camkit.normalize_maps(raw))  # averaged, then scaled


def test_the_registry_entry_smooths_the_plain_gradient() -> None:
    info = camkit.method_info("smoothgrad")
    method = info.create(tiny_net())
    assert isinstance(method, camkit.SmoothGrad) and type(method.method) is camkit.InputGradient
    assert method.samples == info.forward_passes


@pytest.mark.parametrize(("bad", "message"), [({"samples": 0}, "samples"), ({"noise": -0.1}, "noise")])
def test_bad_options_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        camkit.SmoothGrad(camkit.InputGradient(tiny_net()), **bad)
    with pytest.raises(TypeError, match="camkit method"):
        camkit.SmoothGrad(lambda x: x)


@pytest.mark.parametrize("option", [{"upsample": False}, {"normalize": True}])
def test_map_options_are_refused_for_input_gradients(option: dict) -> None:
    smooth = camkit.SmoothGrad(camkit.InputGradient(tiny_net()), samples=2)
    with pytest.raises(ValueError, match="upsample and normalize apply to layer maps"):
        smooth(X, 0, **option)
