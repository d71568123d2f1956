"""Each bad input gets its own clear error that names the problem and the fix."""

import pytest
import torch
import torchvision
from torch import nn

import camkit

from .tiny import X, tiny_net


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


def test_wrong_rank(resnet):
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        camkit.GradCAM(resnet, "layer4")(torch.randn(3, 64, 64))


def test_integer_input(resnet):
    with pytest.raises(TypeError, match="float tensor"):
        camkit.GradCAM(resnet, "layer4")(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_not_a_tensor(resnet):
    with pytest.raises(TypeError, match="torch.Tensor"):
        camkit.GradCAM(resnet, "layer4")([[1.0]])


def test_channel_count(resnet):
    with pytest.raises(ValueError, match=r"first convolution the model runs, 'conv1', takes 3 channels but receives 1"):
        camkit.GradCAM(resnet, "layer4")(torch.randn(1, 1, 64, 64))


def test_nan_input(resnet):
    x = torch.randn(1, 3, 64, 64)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        camkit.GradCAM(resnet, "layer4")(x)


def test_unknown_layer_lists_close_names(resnet):
    with pytest.raises(ValueError, match=r"Unknown layer 'layer5'.*Closest names: layer4"):
        camkit.GradCAM(resnet, "layer5")


def test_foreign_module_as_layer(resnet):
    with pytest.raises(ValueError, match="not part of this model"):
        camkit.GradCAM(resnet, nn.Conv2d(3, 3, 3))


def test_non_spatial_layer(resnet):
    with pytest.raises(ValueError, match=r"'fc' returns a tensor of shape \(1, 10\).*4-D"):
        camkit.GradCAM(resnet, "fc")(torch.randn(1, 3, 64, 64))


def test_class_out_of_range(resnet):
    with pytest.raises(ValueError, match=r"Class index 10 is out of range: the model has 10 classes \(0..9\)"):
        camkit.GradCAM(resnet, "layer4")(torch.randn(2, 3, 64, 64), 10)


def test_negative_class(resnet):
    with pytest.raises(ValueError, match="out of range"):
        camkit.LayerCAM(resnet, "layer4")(torch.randn(1, 3, 64, 64), -1)


def test_target_length_mismatch(resnet):
    with pytest.raises(ValueError, match="names 3 classes but the batch has 2 samples"):
        camkit.GradCAM(resnet, "layer4")(torch.randn(2, 3, 64, 64), [1, 2, 3])


@pytest.mark.parametrize("target", [True, 1.5, "cat", torch.tensor([0.5]), [1, "a"]])
def test_target_of_the_wrong_kind(resnet, target):
    with pytest.raises(TypeError, match="target"):
        camkit.GradCAM(resnet, "layer4")(torch.randn(1, 3, 64, 64), target)


def test_callable_target_with_wrong_shape(resnet):
    with pytest.raises(ValueError, match=r"one score per sample, shape \(2,\)"):
        camkit.GradCAM(resnet, "layer4")(torch.randn(2, 3, 64, 64), lambda logits: logits.sum())


def test_callable_target_works(resnet):
    x = torch.randn(2, 3, 64, 64)
    by_callable = camkit.GradCAM(resnet, "layer4")(x, camkit.ClassLogit(3))
    torch.testing.assert_close(by_callable, camkit.GradCAM(resnet, "layer4")(x, 3))


def test_cam_without_gap_and_one_linear():
    vgg = torchvision.models.vgg11().eval()
    with pytest.raises(ValueError, match="exactly one linear layer.*classifier.0, classifier.3, classifier.6"):
        camkit.CAM(vgg, "features.20")(torch.randn(1, 3, 64, 64))


def test_cam_at_a_layer_that_does_not_feed_the_pooling():
    net = nn.Sequential(tiny_net()[:2], nn.Conv2d(2, 2, kernel_size=3, padding=1), tiny_net()[2:])
    with pytest.raises(ValueError, match="not the global average of '0.conv'"):
        camkit.CAM(net, "0.conv")(X)


def test_cam_with_a_callable_target():
    with pytest.raises(TypeError, match="CAM reads the class weights"):
        camkit.CAM(tiny_net(), "relu")(X, camkit.ClassLogit(0))


class WithUnusedConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_net()
        self.unused = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_layer_not_on_the_path():
    with pytest.raises(RuntimeError, match="'unused' was not run"):
        camkit.GradCAM(WithUnusedConv(), "unused")(X)


def test_layer_used_twice():
    conv = nn.Conv2d(3, 3, 3, padding=1)
    net = nn.Sequential(conv, conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="ran 2 times"):
        camkit.GradCAM(net, "0")(torch.randn(1, 3, 8, 8))


class FunctionalReluNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", [camkit.GuidedBackprop, camkit.Deconvnet])
def test_guided_rules_refuse_functional_relus(method):
    with pytest.raises(RuntimeError, match="no nn.ReLU / nn.ReLU6 module"):
        method(FunctionalReluNet())(torch.randn(1, 3, 8, 8))


def test_plain_gradient_needs_no_relu_module():
    assert camkit.InputGradient(FunctionalReluNet())(torch.randn(1, 3, 8, 8)).shape == (1, 3, 8, 8)
