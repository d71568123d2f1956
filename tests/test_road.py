"""ROAD (camkit.evaluation.metrics.road): the linear imputation by hand and against
pytorch-grad-cam's NoisyLinearImputer, its thresholds and scores against pytorch-grad-cam's
ROADMostRelevantFirst / ROADLeastRelevantFirst, the seeded noise, the constant imputations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from camkit.evaluation import metrics
from camkit.evaluation.metrics import road

pgc_road = pytest.importorskip("pytorch_grad_cam.metrics.road")
pgc_perturbation = pytest.importorskip("pytorch_grad_cam.metrics.perturbation_confidence")
pgc_targets = pytest.importorskip("pytorch_grad_cam.utils.model_targets")

# pytorch-grad-cam hands torch tensors to numpy functions, which NumPy 2 warns about (their code, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning")


def test_linear_imputation_by_hand():
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    centre = torch.zeros(1, 3, 3, dtype=torch.bool)
    centre[0, 1, 1] = True
    # the centre: (1 + 3 + 7 + 9) / 12 + (2 + 4 + 6 + 8) / 6 = 5, weights summing to 1
    assert road.linear_imputation(x * (~centre[:, None]), centre)[0, 0, 1, 1].item() == pytest.approx(5.0)
    corner = torch.zeros(1, 3, 3, dtype=torch.bool)
    corner[0, 0, 0] = True
    # the corner has three neighbours in the image: (2 / 6 + 4 / 6 + 5 / 12) / (1 / 6 + 1 / 6 + 1 / 12) = 3.4
    filled = road.linear_imputation(x, corner)
    assert filled[0, 0, 0, 0].item() == pytest.approx(3.4)
    assert torch.equal(filled.flatten()[1:], x.flatten()[1:])  # kept pixels untouched


@pytest.mark.parametrize("size, fraction, order", [(9, 0.5, "morf"), (24, 0.9, "morf"), (24, 0.3, "lerf")])
def test_linear_imputation_equals_pytorch_grad_cams(size, fraction, order):
    generator = torch.Generator().manual_seed(size)
    image, cam = torch.randn(3, size, size, generator=generator), torch.rand(size, size, generator=generator)
    removed = road.road_removed(cam[None], fraction, order)[0]
    theirs = pgc_road.NoisyLinearImputer(noise=0.0)(image, (~removed).float())  # 1 = kept, 0 = imputed
    ours = road.linear_imputation(image[None], removed[None])[0]
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("fraction", road.ROAD_FRACTIONS)
def test_the_removed_pixels_are_pytorch_grad_cams(fraction):
    cam = torch.rand(1, 20, 20, generator=torch.Generator().manual_seed(3))
    percentile = 100 * (1 - fraction)  # pytorch-grad-cam keeps that percentile of the pixels
    kept = pgc_perturbation.RemoveMostRelevantFirst(percentile, imputer=lambda x, mask: mask)(None, cam[0])
    assert torch.equal(road.road_removed(cam, fraction, "morf")[0], kept == 0)
    kept = pgc_perturbation.RemoveLeastRelevantFirst(percentile, imputer=lambda x, mask: mask)(None, cam[0])
    assert torch.equal(road.road_removed(cam, fraction, "lerf")[0], kept == 0)
    assert road.road_removed(cam, fraction, "morf").sum().item() == pytest.approx(400 * fraction, abs=1)


class TinyNet(nn.Sequential):
    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().forward(x)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_road_scores_equal_pytorch_grad_cams_without_noise(order):
    model = TinyNet().eval()
    generator = torch.Generator().manual_seed(1)
    x, maps = torch.randn(3, 3, 16, 16, generator=generator), torch.rand(3, 16, 16, generator=generator)
    classes = [0, 2, 3]
    fractions = (0.2, 0.5, 0.8)
    ours = road.road_curves(model, x, maps, classes, order, fractions, noise=0.0)
    ours = ours - metrics.class_probabilities(model, x, classes)[:, None]  # theirs: the change of the score
    removal = pgc_perturbation.RemoveMostRelevantFirst if order == "morf" else pgc_perturbation.RemoveLeastRelevantFirst
    targets = [pgc_targets.ClassifierOutputSoftmaxTarget(c) for c in classes]
    theirs = [pgc_perturbation.PerturbationConfidenceMetric(removal(100 * (1 - f), pgc_road.NoisyLinearImputer(noise=0.0)))(
        x, maps.numpy(), targets, model) for f in fractions]
    torch.testing.assert_close(ours, torch.from_numpy(np.stack(theirs, axis=1)), atol=1e-5, rtol=0)


def test_all_fractions_of_all_images_share_forward_passes_and_the_model_is_given_back():
    model = TinyNet().train()
    x, maps = torch.randn(4, 3, 12, 12), torch.rand(4, 6, 6)  # maps resized to 12 x 12
    curves = road.road_curves(model, x, maps, [1, 1, 2, 0], "morf", batch_size=20)  # 4 x 9 images, 2 passes
    assert curves.shape == (4, 9) and model.calls == 2 and model.training


def test_the_noise_is_seeded_and_as_large_as_asked():
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    removed = road.road_removed(torch.rand(2, 32, 32, generator=torch.Generator().manual_seed(1)), 0.5, "morf")
    clean = road.impute(x, removed, noise=0.0)
    noisy = road.impute(x, removed, noise=0.01, generator=torch.Generator().manual_seed(5))
    again = road.impute(x, removed, noise=0.01, generator=torch.Generator().manual_seed(5))
    other = road.impute(x, removed, noise=0.01, generator=torch.Generator().manual_seed(6))
    assert torch.equal(noisy, again) and not torch.equal(noisy, other)
    hole = removed[:, None].expand_as(x)
    assert torch.equal(noisy[~hole], x[~hole])  # kept pixels carry no noise
    assert (noisy - clean)[hole].std().item() == pytest.approx(0.01, rel=0.05)  # 3,072 draws


def test_zero_and_mean_imputation_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]], [[0.0, 4.0], [8.0, 0.0]]]])  # one image, two channels
    removed = torch.tensor([[[False, True], [False, True]]])  # the right column
    zero = road.impute(x, removed, "zero")
    assert zero[0, :, :, 1].eq(0).all() and torch.equal(zero[0, :, :, 0], x[0, :, :, 0])
    mean = road.impute(x, removed, "mean")  # kept pixels: channel 0 has 1 and 3, channel 1 has 0 and 8
    torch.testing.assert_close(mean[0, :, :, 1], torch.tensor([[2.0, 2.0], [4.0, 4.0]]))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='"morf" .* "lerf"'):
        road.road_removed(torch.rand(1, 4, 4), 0.5, "top")
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\]"):
        road.road_removed(torch.rand(1, 4, 4), 1.5, "morf")
    with pytest.raises(ValueError, match="imputation must be one of linear, zero, mean"):
        road.impute(torch.rand(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), "blur")
    with pytest.raises(ValueError, match="removed must be"):
        road.impute(torch.rand(1, 3, 4, 4), torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="one class per image"):
        road.road_curves(TinyNet(), torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8), [0], "morf")
