"""CAM where the class weights are not one linear layer right after the pooling: a functional
ReLU in between (DenseNet) and a 1x1 convolution before the pooling (SqueezeNet).

Golden values by hand on the tiny network of tests/tiny.py: R = ReLU(A) = ([[1, 0], [3, 0]],
[[0, 4], [0, 0]]) with class weights W = [[1, 2], [3, -1]] give, for class 0,
1 R^0 + 2 R^1 = [[1, 8], [3, 0]] and, for class 1, 3 R^0 - R^1 = [[3, -4], [9, 0]].
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import camkit

from .tiny import X, tiny_net

CLASS_0 = [[1.0, 8.0], [3.0, 0.0]]
CLASS_1 = [[3.0, -4.0], [9.0, 0.0]]


class FunctionalReLUNet(nn.Module):
    """tiny_net's layout as DenseNet writes it: conv, then F.relu(inplace=True), pooling, linear."""

    def __init__(self) -> None:
        super().__init__()
        tiny = tiny_net()
        self.conv, self.fc = tiny.conv, tiny.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(F.relu(self.conv(x), inplace=True), 1).flatten(1))


def conv_classifier_net(bias: float = 0.0) -> nn.Sequential:
    """tiny_net's layout as SqueezeNet writes it: the class weights are a 1x1 convolution before
    a ReLU and the pooling (here with a bias of ``bias`` for every class)."""
    tiny = tiny_net()
    net = nn.Sequential()
    net.add_module("conv", tiny.conv)
    net.add_module("relu", nn.ReLU())
    net.add_module("classifier", nn.Conv2d(2, 2, kernel_size=1))
    net.add_module("class_relu", nn.ReLU(inplace=True))
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flatten", nn.Flatten())
    with torch.no_grad():
        net.classifier.weight.copy_(tiny.fc.weight[:, :, None, None])
        net.classifier.bias.fill_(bias)
    return net.eval()


def raw_cam(model: nn.Module, layer: str, target: int) -> torch.Tensor:
    return camkit.CAM(model, layer)(X, target, upsample=False, normalize=False)[0]


@pytest.mark.parametrize("model", [FunctionalReLUNet(), tiny_net(), tiny_net(inplace=True)], ids=["functional", "module", "inplace"])
def test_a_relu_between_the_layer_and_the_pooling_is_part_of_A(model):
    # At "conv", the pooling averages ReLU(A): CAM weighs ReLU(A), as at the ReLU module itself.
    torch.testing.assert_close(raw_cam(model, "conv", 0), torch.tensor(CLASS_0))
    torch.testing.assert_close(raw_cam(model, "conv", 1), torch.tensor(CLASS_1))


def test_a_1x1_convolution_before_the_pooling_gives_the_class_weights():
    net = conv_classifier_net(bias=0.5)
    torch.testing.assert_close(raw_cam(net, "relu", 0), torch.tensor(CLASS_0))
    torch.testing.assert_close(raw_cam(net, "relu", 1), torch.tensor(CLASS_1))
    # M^c + b_c is the class's map before its ReLU; its mean after the ReLU is the score.
    cam = camkit.CAM(net, "relu").compute(X, 1, upsample=False, normalize=False)
    torch.testing.assert_close(F.relu(cam.maps + 0.5).mean(dim=(1, 2)), cam.logits[:, 1])


def test_a_1x1_convolution_that_does_not_give_the_scores_is_not_taken_for_class_weights():
    # ResNet50's layer4 starts with 1x1 convolutions that read layer3's output: not class weights.
    model = torchvision.models.resnet50(num_classes=4).eval()
    with pytest.raises(ValueError, match="'fc' is not the global average of 'layer3'"):
        camkit.CAM(model, "layer3")(torch.randn(1, 3, 64, 64))
    with pytest.raises(TypeError, match="1x1 nn.Conv2d"):
        camkit.CAM(model, "layer4", fc="layer4.0.conv2")  # a 3x3 convolution


def test_densenet_cam_weighs_the_relu_the_pooling_sees():
    torch.manual_seed(0)
    model = torchvision.models.densenet121(num_classes=6).eval()
    x = torch.randn(2, 3, 64, 64)
    cam = camkit.CAM(model, "features")(x, [1, 4], upsample=False, normalize=False)
    with torch.no_grad():
        pooled = F.relu(model.features(x))
        expected = torch.einsum("bk,bkhw->bhw", model.classifier.weight[[1, 4]], pooled)
    assert (model.features(x) < 0).any()  # the ReLU matters
    torch.testing.assert_close(cam, expected, rtol=1e-4, atol=1e-5)


def test_squeezenet_cam_is_the_class_map_of_its_1x1_convolution():
    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(num_classes=6).eval()
    x = torch.randn(2, 3, 96, 96)
    cam = camkit.CAM(model, "features")(x, [2, 5], upsample=False, normalize=False)
    classifier = model.classifier[1]
    with torch.no_grad():
        class_maps = classifier(model.features(x))  # before the ReLU
    expected = class_maps[[0, 1], [2, 5]] - classifier.bias[[2, 5], None, None].detach()
    torch.testing.assert_close(cam, expected, rtol=1e-4, atol=1e-5)
