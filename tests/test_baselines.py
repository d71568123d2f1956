"""camkit.evaluation.baselines: class-blind maps by hand, and what they score on ShapeScenes."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torchvision

from camkit.evaluation import BASELINES, baseline_maps, centre_maps, edge_maps, pointing_hits, random_maps, random_weights
from camkit.evaluation.metrics import argmax_points, pointing_game, pointing_tolerance, proportion_interval
from camkit.image import pixels_to_tensor, standardize
from camkit.zoo.shapes import ShapeScenes


def test_sobel_edges_by_hand():
    # A vertical step from 0 to 1 between columns 1 and 2 of a 4 x 4 one-channel image: the Sobel
    # x-kernel gives (1 + 2 + 1) x 1 = 4 on both columns next to the step, 0 elsewhere; the
    # replicated border adds no edge of its own; y gives 0 everywhere.
    x = torch.zeros(1, 1, 4, 4)
    x[..., 2:] = 1
    expected = torch.tensor([[0.0, 4.0, 4.0, 0.0]]).expand(4, 4)
    torch.testing.assert_close(edge_maps(x)[0], expected)
    # Two channels with steps in x and in y: the magnitude is sqrt(4^2 + 4^2) where both meet.
    both = torch.cat([x, x.transpose(2, 3)], dim=1)
    assert edge_maps(both)[0, 1, 1].item() == torch.tensor(32.0).sqrt().item()
    assert edge_maps(torch.full((2, 3, 5, 5), 7.0)).abs().max() == 0  # a flat image has no edge


def test_centre_and_random_maps():
    x = torch.zeros(3, 3, 9, 7)
    centre = centre_maps(x)
    assert centre.shape == (3, 9, 7) and (argmax_points(centre) == torch.tensor([4, 3])).all()
    torch.testing.assert_close(centre[0, 4, 3 + 1], torch.exp(torch.tensor(-1 / (2 * (0.25 * 7) ** 2))))
    first = random_maps(x, torch.Generator().manual_seed(1))
    assert first.shape == (3, 9, 7) and 0 <= first.min() and first.max() < 1
    assert torch.equal(first, random_maps(x, torch.Generator().manual_seed(1)))


def test_baseline_maps_name_every_baseline_and_the_ceiling_is_the_evidence():
    x, evidence = torch.randn(2, 3, 8, 8), torch.zeros(2, 8, 8, dtype=torch.bool)
    evidence[:, 2:4, 5:7] = True
    maps = baseline_maps(x, evidence, torch.Generator().manual_seed(0))
    assert tuple(maps) == BASELINES
    assert all(m.shape == (2, 8, 8) and m.dtype == torch.float32 for m in maps.values())
    assert pointing_game(maps["evidence"], evidence, 0).all()


def test_random_weights_reinitialises_a_copy_and_keeps_the_global_random_state():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=6)
    before = copy.deepcopy(model.state_dict())
    state = torch.get_rng_state()
    fresh = random_weights(model, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is untouched
    changed = [k for k, v in fresh.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert "conv1.weight" in changed and "fc.weight" in changed and "layer4.1.conv2.weight" in changed
    again = random_weights(model, seed=3).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in fresh.state_dict().items())  # seeded


def test_class_blind_maps_fail_the_pointing_game_among_distractors():
    """With two distractors as salient as the evidence, the maps that know nothing of the class
    point at the evidence at most 45 % of the time (upper end of the 95 % interval); with no
    distractor the edge map finds the lone object almost always: the test that it cannot pass."""
    size = 112

    def rates(distractors: int) -> dict[str, tuple[float, float, float]]:
        data = ShapeScenes("val", size=size, length=400, distractors=distractors, scale=(0.3, 0.45))
        scenes = [data.scene(i) for i in range(len(data))]
        x = standardize(pixels_to_tensor(np.stack([s.image for s in scenes])))
        evidence = torch.from_numpy(np.stack([s.evidence for s in scenes]))
        maps = baseline_maps(x, evidence, torch.Generator().manual_seed(0))
        return {name: proportion_interval(pointing_game(m, evidence, pointing_tolerance(size))) for name, m in maps.items()}

    among = rates(2)
    assert all(among[name][2] <= 0.45 for name in ("random", "centre", "edges"))
    assert among["evidence"][0] == 1.0
    assert rates(0)["edges"][1] > 0.95


def test_pointing_hits_scores_the_baselines_with_the_same_code():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=6).eval()
    data = ShapeScenes("test", size=64, length=5, distractors=2, scale=(0.3, 0.45))
    hits = pointing_hits(model, data, {}, batch_size=3, baselines=True)
    assert list(hits) == ["correct", *BASELINES] and all(h.shape == (5,) and h.dtype == torch.bool for h in hits.values())
    x, _ = data.batch(range(5))
    evidence = torch.from_numpy(np.stack([data.scene(i).evidence for i in range(5)]))
    assert torch.equal(hits["edges"], pointing_game(edge_maps(x), evidence, pointing_tolerance(64)))
    assert hits["evidence"].all()
