"""camkit.evaluation.metrics by hand: mass_share, the energy pointing game and relevance mass / rank
accuracy on small maps, the intervals on small samples."""

import numpy as np
import pytest
import torch

from camkit.evaluation import metrics
from camkit.evaluation.metrics import mass_share


def test_mass_share_by_hand():
    maps = torch.tensor([[[1.0, 3.0], [0.0, 4.0]], [[2.0, 2.0], [2.0, 2.0]]])
    masks = torch.tensor([[[False, True], [False, True]], [[True, False], [False, False]]])
    # (3 + 4) / 8 and 2 / 8
    torch.testing.assert_close(mass_share(maps, masks), torch.tensor([0.875, 0.25]))


def test_empty_map_has_no_share():
    assert mass_share(torch.zeros(1, 2, 2), torch.ones(1, 2, 2, dtype=torch.bool)).isnan().all()


def test_bad_shapes_and_negative_maps():
    with pytest.raises(ValueError, match="must both be"):
        mass_share(torch.ones(1, 2, 2), torch.ones(1, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="non-negative"):
        mass_share(-torch.ones(1, 2, 2), torch.ones(1, 2, 2, dtype=torch.bool))


def test_proportion_interval_is_wilsons_by_hand():
    # 8 hits of 10, z = 1.96: centre (0.8 + 0.19208) / 1.38416 = 0.716738, half-width
    # 1.96 / 1.38416 * sqrt(0.016 + 0.009604) = 0.226583 (computed by hand)
    rate, low, high = metrics.proportion_interval(torch.tensor([True] * 8 + [False] * 2))
    assert rate == pytest.approx(0.8)
    assert low == pytest.approx(0.716738 - 0.226583, abs=1e-5) and high == pytest.approx(0.716738 + 0.226583, abs=1e-5)
    rate, low, high = metrics.proportion_interval(torch.ones(20, dtype=torch.bool))  # all hits: stays below 1
    assert rate == 1 and high == pytest.approx(1.0) and 0.8 < low < 1
    with pytest.raises(ValueError, match="at least one"):
        metrics.proportion_interval(torch.zeros(0, dtype=torch.bool))


def test_mean_interval_by_hand_and_without_nans():
    # values 1, 2, 3, 4 and a NaN: mean 2.5, sd sqrt(5/3) = 1.290994, half-width 1.96 * 1.290994 / 2 = 1.265174
    mean, low, high = metrics.mean_interval(torch.tensor([1.0, 2.0, float("nan"), 3.0, 4.0]))
    assert mean == pytest.approx(2.5) and high - mean == pytest.approx(1.265174, abs=1e-6) and mean - low == pytest.approx(high - mean)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.mean_interval(torch.tensor([1.0, float("nan")]))


def test_bootstrap_interval_by_hand_and_against_scipy():
    # Two values 0 and 1: a resample's mean is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4, so the
    # 2.5 % and 97.5 % quantiles of 2000 resampled means are 0 and 1.
    assert metrics.bootstrap_interval(torch.tensor([0.0, 1.0, float("nan")])) == (0.5, 0.0, 1.0)
    assert metrics.bootstrap_interval(torch.full((50,), 0.3, dtype=torch.float64)) == pytest.approx((0.3, 0.3, 0.3))
    scipy_stats = pytest.importorskip("scipy.stats")
    values = torch.rand(400, generator=torch.Generator().manual_seed(4)) ** 3  # skewed, like shares near 0
    mean, low, high = metrics.bootstrap_interval(values, resamples=4000)
    theirs = scipy_stats.bootstrap((values.double().numpy(),), np.mean, n_resamples=4000, method="percentile",
                                   random_state=0).confidence_interval
    # Two independent Monte Carlo estimates of the same quantiles: they agree to a few thousandths.
    assert low == pytest.approx(theirs.low, abs=4e-3) and high == pytest.approx(theirs.high, abs=4e-3)
    assert mean == pytest.approx(values.double().mean().item())
    assert metrics.bootstrap_interval(values, seed=1) != (mean, low, high)  # the seed is used
    with pytest.raises(ValueError, match="at least 2"):
        metrics.bootstrap_interval(torch.tensor([1.0]))


def test_bounding_boxes_by_hand():
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[0, 1, 2] = masks[0, 3, 0] = True  # two pixels: the box spans rows 1-3, columns 0-2
    masks[1, 2, 2] = True                   # one pixel: its own box
    boxes = metrics.bounding_boxes(masks)
    expected = torch.zeros(3, 4, 4, dtype=torch.bool)
    expected[0, 1:4, 0:3] = True
    expected[1, 2, 2] = True
    assert torch.equal(boxes, expected)     # the empty third mask has an empty box


def test_energy_pointing_game_by_hand():
    # An L-shaped mask on the main diagonal's corner: its box is the top-left 2 x 2 block.
    maps = torch.tensor([[[4.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]]])
    masks = torch.tensor([[[True, True, False], [True, False, False], [False, False, False]]])
    # energy in the box (4 + 1 + 2 + 0) / total 10; mass on the mask itself (4 + 1 + 2) / 10 as well
    torch.testing.assert_close(metrics.energy_pointing_game(maps, masks), torch.tensor([0.7]))
    maps[0, 1, 1] = 5.0  # inside the box, outside the mask: counts for the box only
    torch.testing.assert_close(metrics.energy_pointing_game(maps, masks), torch.tensor([12 / 15]))
    torch.testing.assert_close(mass_share(maps, masks), torch.tensor([7 / 15]))
    with pytest.raises(ValueError, match="energy_pointing_game: maps .* must both be"):
        metrics.energy_pointing_game(maps, masks[0])


def test_relevance_mass_accuracy_counts_positive_relevance_only():
    maps = torch.tensor([[[3.0, -2.0], [1.0, -5.0]]])
    masks = torch.tensor([[[True, True], [False, False]]])
    # positive relevance 3 + 1 = 4, of which 3 inside the mask; the -2 inside counts as none
    torch.testing.assert_close(metrics.relevance_mass_accuracy(maps, masks), torch.tensor([0.75]))
    assert metrics.relevance_mass_accuracy(-maps.abs(), masks).isnan().all()  # no positive relevance at all


def test_relevance_rank_accuracy_by_hand():
    maps = torch.tensor([[[0.9, 0.1, 0.5], [0.8, 0.2, 0.5], [0.0, 0.3, 0.4]]])
    masks = torch.tensor([[[True, False, False], [False, False, True], [False, True, False]]])
    # K = 3: the top three pixels are 0.9 (0, 0), 0.8 (1, 0) and 0.5 (0, 2), the first of the two
    # 0.5s in row-major order; the mask holds (0, 0), (1, 2) and (2, 1): one of three covered
    torch.testing.assert_close(metrics.relevance_rank_accuracy(maps, masks), torch.tensor([1 / 3]))
    # every pixel's place from the top, row-major: 0.9 first, 0.8, the two 0.5s in order, 0.4 ... 0.0 last
    assert metrics.pixel_ranks(maps).tolist() == [[0, 7, 2, 1, 6, 3, 8, 5, 4]]
    assert metrics.relevance_rank_accuracy(maps, torch.zeros_like(masks)).isnan().all()  # empty mask: no answer
