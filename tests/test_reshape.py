"""Layers that are not (B, K, h, w): transformer tokens and channels-last outputs, read with ``reshape``.

The golden values come from a twin reading: a tiny network turns its convolution's output into
tokens (a class token, then the grid) and into channels-last, and back.  Read through the reshape,
the token layer and the channels-last layer must give every layer-map method exactly the map of
the convolution itself, whose output holds the same numbers.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import camkit
from camkit.core.registry import INPUT_GRADIENT, LAYER_MAP


class TokenNet(nn.Module):
    """conv ('features', (B, 8, h, w)) -> tokens ('tokens', (B, 1 + h * w, 8), a class token first)
    -> back to the grid -> channels-last ('nhwc', (B, h, w, 8)) -> back -> ReLU, mean, linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.cls_token = nn.Parameter(torch.randn(1, 1, 8))
        self.tokens = nn.Identity()
        self.nhwc = nn.Identity()
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.features(x)
        batch, channels, h, w = a.shape
        tokens = self.tokens(torch.cat([self.cls_token.expand(batch, 1, channels), a.flatten(2).transpose(1, 2)], dim=1))
        grid = tokens[:, 1:].transpose(1, 2).reshape(batch, channels, h, w)  # the class token is not used
        last = self.nhwc(grid.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.fc(self.relu(last).mean(dim=(2, 3)))


LAYER_METHODS = [name for name in camkit.available_methods()
                 if camkit.method_info(name).kind == LAYER_MAP or name == "guided-gradcam"]


@pytest.fixture
def net_and_input():
    return TokenNet().eval(), torch.randn(2, 3, 16, 24, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", LAYER_METHODS)
def test_every_layer_method_reads_tokens_and_channels_last_as_the_feature_map_they_hold(name, net_and_input):
    model, x = net_and_input
    info = camkit.method_info(name)
    target = [1, 3]
    reference = info.create(model, "features")(x, target)
    via_tokens = info.create(model, "tokens", reshape=camkit.tokens(cls_tokens=1))(x, target)
    via_channels_last = info.create(model, "nhwc", reshape=camkit.channels_last())(x, target)
    assert reference.abs().max() > 0
    assert torch.allclose(via_tokens, reference, atol=1e-6) and torch.allclose(via_channels_last, reference, atol=1e-6)


def test_the_reading_is_inferred_announced_once_and_the_same(net_and_input):
    model, x = net_and_input
    reference = camkit.GradCAM(model, "features")(x, 2)
    cam = camkit.LayerCAM(model, "tokens")
    with pytest.warns(UserWarning, match=r"reads layer 'tokens''s output \(2, 97, 8\) as tokens: 1 leading token\(s\) "
                                         r"left out .*then a 8 x 12 grid \(it is 3-D\)"):
        maps = cam(x, 2)
    assert torch.allclose(maps, camkit.LayerCAM(model, "features")(x, 2), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cam(x, 2)  # announced once
        explicit = camkit.GradCAM(model, "tokens", reshape=camkit.tokens(grid=(8, 12)))(x, 2)  # nothing to announce
    assert torch.allclose(explicit, reference, atol=1e-6)


def test_a_reshape_function_as_pytorch_grad_cam_takes_it(net_and_input):
    model, x = net_and_input

    def reshape_transform(tensor):  # pytorch-grad-cam's form
        return tensor[:, 1:, :].reshape(tensor.size(0), 8, 12, tensor.size(2)).permute(0, 3, 1, 2)

    ours = camkit.GradCAM(model, "tokens", reshape=reshape_transform)(x, 4)
    assert torch.allclose(ours, camkit.GradCAM(model, "features")(x, 4), atol=1e-6)


def test_token_layouts_that_cannot_be_inferred_or_do_not_fit_get_the_fix():
    def output(count: int) -> torch.Tensor:
        return torch.zeros(1, count, 4)

    assert camkit.tokens().layout(output(197), (224, 224)) == (1, (14, 14))
    assert camkit.tokens().layout(output(201), (224, 224)) == (5, (14, 14))  # a class token and four registers
    assert camkit.tokens().layout(output(392), (224, 448)) == (0, (14, 28))
    with pytest.raises(ValueError, match="several ways.*camkit.tokens\\(grid=\\(h, w\\), cls_tokens=n\\)"):
        camkit.tokens().layout(output(17), (64, 64))  # 1 + 4 x 4 or 8 + 3 x 3
    assert camkit.tokens(cls_tokens=1).layout(output(17), (64, 64)) == (1, (4, 4))
    with pytest.raises(ValueError, match="no way"):
        camkit.tokens().layout(output(50), (64, 96))
    with pytest.raises(ValueError, match="cls_tokens=1 and a 3 x 3 grid make 10 tokens; the output has 17"):
        camkit.tokens(grid=(3, 3), cls_tokens=1).layout(output(17), (64, 64))
    with pytest.raises(ValueError, match="A 5 x 5 grid needs 25 tokens; the output has 17"):
        camkit.tokens(grid=(5, 5)).layout(output(17), (64, 64))
    with pytest.raises(ValueError, match="grid must be \\(h, w\\)"):
        camkit.tokens(grid=(3, 0))
    with pytest.raises(ValueError, match="cls_tokens must be an int >= 0"):
        camkit.tokens(cls_tokens=-1)
    with pytest.raises(TypeError, match="reshape must be camkit.tokens"):
        camkit.GradCAM(TokenNet(), "tokens", reshape="tokens")
    with pytest.raises(ValueError, match="takes no layer; leave layer and reshape out"):
        camkit.method_info("guided").create(TokenNet(), reshape=camkit.tokens())


def test_a_bad_reshape_fails_clearly_and_leaves_the_model_as_it_was(net_and_input):
    model, x = net_and_input
    before = [(name, p.requires_grad) for name, p in model.named_parameters()]
    with pytest.raises(ValueError, match=r"reshape turned layer 'tokens''s output \(2, 97, 8\) into shape \(2, 97, 8\)"):
        camkit.GradCAM(model, "tokens", reshape=lambda tensor: tensor)(x, 0)
    with pytest.raises(ValueError, match="Ablation-CAM zeroes channels in layer 'tokens''s own output"):
        camkit.AblationCAM(model, "tokens", reshape=lambda t: t[:, 1:].transpose(1, 2).reshape(len(t), 8, 8, 12))(x, 0)
    assert not model.training and [(name, p.requires_grad) for name, p in model.named_parameters()] == before
    assert all(not module._forward_hooks and not module._forward_pre_hooks for module in model.modules())


def test_input_gradient_methods_take_no_reshape():
    assert all(camkit.method_info(name).kind == INPUT_GRADIENT for name in ("gradient", "guided", "smoothgrad"))


def test_the_description_names_leading_tokens_only_when_there_are_some():
    patches = torch.zeros(1, 36, 8)
    assert camkit.tokens().describe(patches, (48, 48)) == "as tokens: no leading token, a 6 x 6 grid"
    with_class_token = torch.zeros(1, 37, 8)
    assert camkit.tokens().describe(with_class_token, (48, 48)).startswith("as tokens: 1 leading token(s) left out")
