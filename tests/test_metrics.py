"""mass_share: the share of a map's mass inside a mask, by hand on 2 x 2 maps."""

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
