"""mass_share: the share of a map's mass inside a mask, by hand on 2 x 2 maps."""

import pytest
import torch

from camkit.metrics import mass_share


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
