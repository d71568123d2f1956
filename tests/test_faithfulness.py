"""Average Drop, Increase in Confidence and deletion / insertion, computed by hand on a tiny model.

The model reads one-channel 2 x 2 images: logits (sum of the pixels, 0), so the probability of
class 0 is sigmoid(sum) and every perturbed image's probability can be written down.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from camkit.evaluation import metrics


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


class PixelSum(nn.Module):
    """logits = (sum of the pixels, 0); counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # a parameter, so that modes and requires_grad can be checked
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        total = self.scale * x.flatten(1).sum(dim=1)
        return torch.stack([total, torch.zeros_like(total)], dim=1)


IMAGES = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]]], [[[1.0, 1.0], [1.0, -3.0]]]])  # sums 2 and 0


def test_average_drop_and_increase_in_confidence_by_hand():
    model = PixelSum().train()
    maps = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]]])
    original, masked = metrics.masked_confidences(model, IMAGES, maps, [0, 0])
    # image 0: Y = sigmoid(2), O = sigmoid(1 - 1) = 0.5; image 1: Y = sigmoid(0) = 0.5, O = sigmoid(3)
    torch.testing.assert_close(original, torch.tensor([sigmoid(2), 0.5]))
    torch.testing.assert_close(masked, torch.tensor([0.5, sigmoid(3)]))
    drop = metrics.average_drop(original, masked)
    torch.testing.assert_close(drop, torch.tensor([100 * (sigmoid(2) - 0.5) / sigmoid(2), 0.0]))  # 43.23 %, 0
    assert drop.mean().item() == pytest.approx(21.6166, abs=1e-3)
    torch.testing.assert_close(metrics.increase_in_confidence(original, masked), torch.tensor([0.0, 100.0]))
    assert model.calls == 1 and model.training and model.scale.requires_grad  # one pass, the model as it was


def test_confidence_refuses_maps_outside_zero_one_and_mismatched_shapes():
    model = PixelSum()
    with pytest.raises(ValueError, match=r"\[0, 1\].*normalize_maps"):
        metrics.masked_confidences(model, IMAGES, 2 * torch.ones(2, 2, 2), [0, 0])
    with pytest.raises(ValueError, match="same B"):
        metrics.masked_confidences(model, IMAGES, torch.ones(3, 2, 2), [0, 0])
    with pytest.raises(ValueError, match="one class per input"):
        metrics.masked_confidences(model, IMAGES, torch.ones(2, 2, 2), [0, 0, 1])


def test_deletion_and_insertion_curves_by_hand():
    model = PixelSum().train()
    x = IMAGES[:1]  # pixels 1, 2 / 0, -1
    maps = torch.tensor([[[0.9, 0.1], [0.5, 0.3]]])  # order: 1 (0.9), 0 (0.5), -1 (0.3), 2 (0.1)
    deletion = metrics.deletion_curves(model, x, maps, [0], baseline=0.0, steps=4)
    # sums 2, 1, 1, 2, 0 as the pixels go one by one
    expected = [sigmoid(2), sigmoid(1), sigmoid(1), sigmoid(2), sigmoid(0)]
    torch.testing.assert_close(deletion, torch.tensor([expected]))
    insertion = metrics.insertion_curves(model, x, maps, [0], baseline=0.0, steps=4)
    expected_in = [sigmoid(0), sigmoid(1), sigmoid(1), sigmoid(0), sigmoid(2)]  # sums 0, 1, 1, 0, 2
    torch.testing.assert_close(insertion, torch.tensor([expected_in]))
    # trapezoid over 0, 1/4, ..., 1: (p0 / 2 + p1 + p2 + p3 + p4 / 2) / 4
    torch.testing.assert_close(metrics.curve_auc(deletion), torch.tensor([0.758328]), atol=1e-6, rtol=0)
    torch.testing.assert_close(metrics.curve_auc(insertion), torch.tensor([0.663129]), atol=1e-6, rtol=0)
    two_steps = metrics.deletion_curves(model, x, maps, [0], baseline=0.0, steps=2)  # 0, 2, 4 pixels gone
    torch.testing.assert_close(two_steps, torch.tensor([[sigmoid(2), sigmoid(1), sigmoid(0)]]))
    assert model.training and model.scale.requires_grad


def test_the_baseline_may_be_a_number_a_tensor_or_a_function():
    model = PixelSum()
    maps = torch.tensor([[[0.9, 0.1], [0.5, 0.3]]])
    by_number = metrics.deletion_curves(model, IMAGES[:1], maps, [0], baseline=1.0, steps=4)
    by_tensor = metrics.deletion_curves(model, IMAGES[:1], maps, [0], baseline=torch.ones(1, 1, 1, 1), steps=4)
    by_function = metrics.deletion_curves(model, IMAGES[:1], maps, [0], baseline=torch.ones_like, steps=4)
    # pixels replaced by 1: sums 2, 2, 3, 5, 4
    expected = torch.tensor([[sigmoid(2), sigmoid(2), sigmoid(3), sigmoid(5), sigmoid(4)]])
    for curves in (by_number, by_tensor, by_function):
        torch.testing.assert_close(curves, expected)


def test_the_perturbed_images_share_forward_passes():
    model = PixelSum()
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(6, 4, 4, generator=torch.Generator().manual_seed(1))  # resized to 8 x 8
    curves = metrics.deletion_curves(model, x, maps, [0] * 6, steps=7, batch_size=16)  # 2 images of 8 copies a pass
    assert curves.shape == (6, 8) and model.calls == 3
    torch.testing.assert_close(curves[:, -1], torch.full((6,), 0.5))  # everything deleted: sum 0
    torch.testing.assert_close(curves[:, 0], metrics.class_probabilities(model, x, [0] * 6))
    one_by_one = torch.cat([metrics.deletion_curves(model, x[i:i + 1], maps[i:i + 1], [0], steps=7) for i in range(6)])
    torch.testing.assert_close(curves, one_by_one)


def test_rise_blur_keeps_a_constant_image_and_smooths_an_edge():
    flat = torch.full((1, 3, 16, 16), 0.7)
    torch.testing.assert_close(metrics.rise_blur(flat), flat)
    edge = torch.zeros(1, 1, 16, 16)
    edge[..., 8:] = 1.0
    blurred = metrics.rise_blur(edge)
    assert 0 < blurred[0, 0, 8, 7].item() < 0.5 < blurred[0, 0, 8, 8].item() < 1


def test_perturbation_curves_refuse_bad_arguments():
    model, maps = PixelSum(), torch.rand(2, 2, 2)
    with pytest.raises(ValueError, match='"deletion" or "insertion"'):
        metrics.perturbation_curves(model, IMAGES, maps, [0, 0], "erase", 0.0)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        metrics.deletion_curves(model, IMAGES, maps, [0, 0], steps=0)
    with pytest.raises(ValueError, match="one class per image"):
        metrics.deletion_curves(model, IMAGES, maps, [0])
    with pytest.raises(ValueError, match="at least 2 points"):
        metrics.curve_auc(torch.ones(2, 1))


def test_confidences_equal_pytorch_grad_cams_and_its_drop_is_not_divided_by_y():
    pgc_image = pytest.importorskip("pytorch_grad_cam.metrics.cam_mult_image")
    pgc_targets = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
    x, maps, classes = torch.randn(4, 3, 10, 10), torch.rand(4, 10, 10), [0, 1, 2, 1]
    original, masked = metrics.masked_confidences(model, x, maps, classes)
    targets = [pgc_targets.ClassifierOutputSoftmaxTarget(c) for c in classes]
    change = pgc_image.CamMultImageConfidenceChange()(x, maps.numpy(), targets, model)  # O - Y
    torch.testing.assert_close(masked - original, torch.from_numpy(change), atol=1e-6, rtol=0)
    increase = pgc_image.IncreaseInConfidence()(x, maps.numpy(), targets, model)
    torch.testing.assert_close(metrics.increase_in_confidence(original, masked) / 100, torch.from_numpy(increase))
    # pytorch-grad-cam's DropInConfidence is max(0, Y - O), Grad-CAM++'s Average Drop divides it by Y
    drop = pgc_image.DropInConfidence()(x, maps.numpy(), targets, model)
    torch.testing.assert_close(metrics.average_drop(original, masked) * original / 100, torch.from_numpy(drop),
                               atol=1e-6, rtol=0)


def test_metric_scores_is_localisation_then_faithfulness_and_each_equals_its_metric():
    from camkit.evaluation import faithfulness_scores, localisation_scores, metric_scores

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    x, classes = torch.randn(2, 3, 8, 8), torch.tensor([0, 2])
    maps, masks = torch.rand(2, 8, 8) * 5, torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 3:6] = True
    both = metric_scores(model, x, classes, maps, masks, steps=4, road_fractions=(0.25, 0.5))
    local = localisation_scores(maps, masks)
    faithful = faithfulness_scores(model, x, classes, maps, 4, (0.25, 0.5), road_imputations=("linear", "zero"))
    assert list(both) == list(local) + [k for k in faithful if "(zero)" not in k]
    scaled = (maps - maps.amin((1, 2), keepdim=True)) / (maps.amax((1, 2), keepdim=True) - maps.amin((1, 2), keepdim=True))
    assert torch.equal(local["relevance mass accuracy"], metrics.relevance_mass_accuracy(scaled, masks))
    zero_morf = metrics.road_curves(model, x, scaled, classes, "morf", (0.25, 0.5), "zero", progress=False).mean(dim=1)
    assert torch.allclose(faithful["ROAD MoRF (zero)"], zero_morf)
    assert torch.allclose(both["ROAD LeRF"], faithful["ROAD LeRF"])
    assert torch.allclose(both["deletion AUC"], metrics.curve_auc(metrics.deletion_curves(model, x, scaled, classes, steps=4)))
