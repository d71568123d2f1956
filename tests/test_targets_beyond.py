"""Targets beyond one softmax class: multi-label, one binary logit, regression and segmentation.

Golden values: Grad-CAM computed by hand (a forward hook, ``torch.autograd.grad`` of the score the
target defines) on tiny networks with seeded weights; for segmentation also pytorch-grad-cam's
``SemanticSegmentationTarget`` on a torchvision segmentation model that returns a dict.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from pytorch_grad_cam import GradCAM as PgcGradCAM
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget
from torch import nn

import camkit
from camkit import BinaryLogit, ClassLogit, LabelProbability, RegressionOutput, SegmentationRegion


class TinyHead(nn.Module):
    """conv -> ReLU -> global average -> linear with ``outputs`` values, squeezed to (B,) for one."""

    def __init__(self, outputs: int, squeeze: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(6, outputs)
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(self.relu(self.conv(x)).mean(dim=(2, 3)))
        return out[:, 0] if self.squeeze else out


class TinySegmenter(nn.Module):
    """conv -> ReLU -> 1x1 conv to three classes per pixel, returned as {"out": (B, 3, H, W)}."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.classifier = nn.Conv2d(6, 3, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.classifier(self.relu(self.conv(x)))}


def grad_cam_by_hand(model: nn.Module, layer: str, x: torch.Tensor, score) -> torch.Tensor:
    """Raw Grad-CAM of ``score(output)`` (B,), from a forward hook and autograd."""
    kept = []
    handle = model.get_submodule(layer).register_forward_hook(lambda _m, _i, out: kept.append(out))
    try:
        output = model(x)
    finally:
        handle.remove()
    (gradient,) = torch.autograd.grad(score(output).sum(), kept[0])
    return F.relu((gradient.mean(dim=(2, 3), keepdim=True) * kept[0]).sum(dim=1)).detach()


def raw_grad_cam(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    return camkit.GradCAM(model, "conv")(x, target, upsample=False, normalize=False)


@pytest.fixture
def x():
    return torch.randn(2, 3, 8, 10, generator=torch.Generator().manual_seed(1))


def test_binary_logit_explains_either_class(x):
    model = TinyHead(1).eval()
    for positive, sign in ((True, 1), (False, -1)):
        expected = grad_cam_by_hand(model, "conv", x, lambda out: sign * out[:, 0])
        assert expected.amax() > 0
        assert torch.allclose(raw_grad_cam(model, x, BinaryLogit(positive)), expected, atol=1e-6)
    assert torch.allclose(raw_grad_cam(model, x, BinaryLogit()), raw_grad_cam(model, x, 0), atol=1e-7)  # the one logit
    squeezed = TinyHead(1, squeeze=True).eval()  # an output of shape (B,)
    assert torch.allclose(raw_grad_cam(squeezed, x, BinaryLogit(False)), grad_cam_by_hand(model, "conv", x, lambda out: -out[:, 0]),
                          atol=1e-6)


def test_label_probability_scales_each_map_by_the_sigmoid_slope(x):
    model = TinyHead(4).eval()
    with torch.no_grad():
        z = model(x)[:, 2]
    slope = (z.sigmoid() * (1 - z.sigmoid()))[:, None, None]  # d sigmoid(z) / dz > 0, so ReLU keeps the factor
    assert torch.allclose(raw_grad_cam(model, x, LabelProbability(2)), slope * raw_grad_cam(model, x, ClassLogit(2)), rtol=1e-5)
    assert torch.allclose(raw_grad_cam(model, x, ClassLogit(2)), grad_cam_by_hand(model, "conv", x, lambda out: out[:, 2]), atol=1e-6)


def test_regression_output_and_its_decrease(x):
    model = TinyHead(3).eval()
    for index, increase in ((1, True), (1, False), (2, True)):
        expected = grad_cam_by_hand(model, "conv", x, lambda out: (1 if increase else -1) * out[:, index])
        assert torch.allclose(raw_grad_cam(model, x, RegressionOutput(index, increase)), expected, atol=1e-6)
    single = TinyHead(1, squeeze=True).eval()
    assert torch.allclose(raw_grad_cam(single, x, RegressionOutput()), grad_cam_by_hand(single, "conv", x, lambda out: out), atol=1e-6)


def test_segmentation_region_sums_a_class_over_a_mask_or_its_predicted_pixels(x):
    model = TinySegmenter().eval()
    mask = torch.zeros(8, 10, dtype=torch.bool)
    mask[2:6, 3:9] = True
    expected = grad_cam_by_hand(model, "conv", x, lambda out: (out["out"][:, 1] * mask).sum(dim=(1, 2)))
    assert expected.amax() > 0
    assert torch.allclose(raw_grad_cam(model, x, SegmentationRegion(1, mask)), expected, atol=1e-6)
    with torch.no_grad():
        predicted = model(x)["out"].argmax(dim=1) == 2  # (B, H, W): a region per sample
    assert predicted.any()
    expected = grad_cam_by_hand(model, "conv", x, lambda out: (out["out"][:, 2] * predicted).sum(dim=(1, 2)))
    assert torch.allclose(raw_grad_cam(model, x, SegmentationRegion(2)), expected, atol=1e-6)


def test_segmentation_region_takes_one_class_per_sample(x):
    model = TinySegmenter().eval()
    both = SegmentationRegion([1, 2])(model(x))
    assert torch.allclose(both, torch.stack([SegmentationRegion(1)(model(x))[0], SegmentationRegion(2)(model(x))[1]]))
    with pytest.raises(ValueError, match=r"a class 0\.\.2 or 2 of them"):
        SegmentationRegion([1, 2, 3])(model(x))
    with pytest.raises(ValueError, match=r"a class 0\.\.2"):
        SegmentationRegion(7)(model(x))


def test_a_torchvision_segmenter_with_a_dict_output_matches_pytorch_grad_cam():
    torch.manual_seed(0)
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=4).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    mask = np.zeros((64, 64), dtype=np.float32)
    mask[16:48, 8:40] = 1
    layer = "backbone.16"
    ours = camkit.GradCAM(model, layer)(x, SegmentationRegion(3, torch.from_numpy(mask).bool()))

    class OutOnly(nn.Module):  # pytorch-grad-cam needs a tensor output: its tutorial wraps the model so
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)["out"]

    wrapped = OutOnly(copy.deepcopy(model)).eval()
    with PgcGradCAM(wrapped, [wrapped.inner.get_submodule(layer)]) as cam:
        theirs = torch.from_numpy(cam(x, [SemanticSegmentationTarget(3, mask)]))
    assert ours.amax() > 0
    assert (theirs - camkit.normalize_maps(ours)).abs().max() < 1e-4


def test_targets_refuse_outputs_they_cannot_read(x):
    with pytest.raises(ValueError, match=r"BinaryLogit needs an output of shape \(B,\) or \(B, 1\)"):
        BinaryLogit()(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="index= for"):
        RegressionOutput()(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"SegmentationRegion needs logits \(B, classes, H, W\)"):
        SegmentationRegion(0)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"The mask is \(4, 4\) but the logits are \(8, 10\)"):
        camkit.GradCAM(TinySegmenter().eval(), "conv")(x, SegmentationRegion(0, torch.ones(4, 4, dtype=torch.bool)))


def test_targets_import_from_camkit_targets():
    from camkit.targets import BinaryLogit as Imported

    assert Imported is BinaryLogit and camkit.targets.SegmentationRegion is SegmentationRegion
