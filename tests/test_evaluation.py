"""camkit.evaluation: the scores of the reproduction tables, checked against direct computations."""

import numpy as np
import pytest
import torch
import torchvision

import camkit
import camkit.evaluation
from camkit.evaluation import discrimination_scores, discrimination_shares, map_methods, pointing_hits, pointing_scores, saliency
from camkit.evaluation.metrics import pointing_game, pointing_tolerance, proportion_interval
from camkit.zoo.shapes import ShapeScenes


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=6).eval()


def test_saliency_is_the_largest_absolute_value_over_channels():
    g = torch.tensor([[[[1.0, -3.0]], [[-2.0, 0.5]], [[0.0, 1.0]]]])  # (1, 3, 1, 2)
    assert torch.equal(saliency(g), torch.tensor([[[2.0, 3.0]]]))


def test_pointing_scores_match_a_scene_by_scene_count(model):
    data = ShapeScenes("test", size=64, length=6, seed=5)
    methods = map_methods(model, "layer4")
    assert list(methods) == ["CAM", "Grad-CAM", "Grad-CAM++", "XGrad-CAM", "HiResCAM", "LayerCAM", "Eigen-CAM",
                             "Input gradient", "Deconvnet", "Guided Backprop", "SmoothGrad", "Integrated Gradients",
                             "Guided Grad-CAM"]
    scores = pointing_scores(model, data, methods, batch_size=4)  # two batches, the last one short
    x, labels = data.batch(range(6))
    masks = torch.from_numpy(np.stack([data.scene(i).masks[0] for i in range(6)]))
    assert scores["scenes"] == 6
    assert scores["accuracy"] == pytest.approx((model(x).argmax(1) == labels).double().mean().item())
    expected = pointing_game(camkit.GradCAM(model, "layer4")(x, labels.tolist()), masks, pointing_tolerance(64))
    assert scores["Grad-CAM"] == pytest.approx(expected.float().mean().item())


def test_a_map_that_ignores_the_class_scores_one_half(model):
    data = ShapeScenes("test", size=64, length=3, objects=2, seed=1)
    flat = {"flat": lambda x, classes: torch.ones(len(x), *x.shape[-2:])}
    # Each object gets its share of the two objects' area; the two shares of a scene add up to 1
    # (the masks are disjoint).
    assert discrimination_scores(model, data, flat, batch_size=2) == {"scenes": 3, "flat": pytest.approx(0.5)}


def test_a_map_on_the_named_object_shares_everything_and_an_empty_map_half(model):
    data = ShapeScenes("test", size=64, length=2, objects=2, seed=1)
    scenes = [data.scene(i) for i in range(2)]

    def oracle(x, classes):  # the mask of the object of the asked class
        return torch.stack([torch.from_numpy(s.masks[list(s.labels).index(c)]).float() for s, c in zip(scenes, classes)])

    def background(x, classes):  # mass everywhere but on the objects
        return torch.stack([torch.from_numpy(~s.masks.any(axis=0)).float() for s in scenes])

    methods = {"oracle": oracle, "empty": lambda x, classes: torch.zeros(len(x), 64, 64), "background": background}
    assert discrimination_scores(model, data, methods) == {"scenes": 2, "oracle": 1.0, "empty": 0.5, "background": 0.5}


def test_discrimination_needs_two_objects(model):
    with pytest.raises(ValueError, match="objects=2"):
        discrimination_scores(model, ShapeScenes("test", size=64, length=2), {})


def test_summary_markdown_is_the_interval_table_and_the_peer_differences():
    hits = {"correct": torch.tensor([True] * 8 + [False] * 2), "Grad-CAM": torch.ones(10, dtype=torch.bool)}
    shares = {"Grad-CAM": torch.tensor([0.0, 1.0])}
    text = camkit.evaluation.summary_markdown("vgg16 (shapes)", hits, shares, {"captum": 3e-7})
    assert text.splitlines() == ["### vgg16 (shapes)", "", *camkit.evaluation.interval_table(hits, shares).splitlines(),
                                 "| largest difference to captum | 3.0e-07 | | |"]


def test_rates_and_means_reduce_the_scene_by_scene_values():
    hits = {"correct": torch.tensor([True, True, False, True]), "Grad-CAM": torch.tensor([True, False, False, False])}
    assert camkit.evaluation.hit_rates(hits) == {"accuracy": 0.75, "scenes": 4, "Grad-CAM": 0.25}
    shares = {"Grad-CAM": torch.tensor([1.0, 0.5, 0.25, 0.25])}  # two scenes, two objects each
    assert camkit.evaluation.mean_shares(shares) == {"scenes": 2, "Grad-CAM": 0.5}


def test_rates_table_formats_a_training_runs_table_as_interval_table_does():
    hits = {"correct": torch.tensor([True] * 8 + [False] * 2), "Grad-CAM": torch.ones(10, dtype=torch.bool)}
    table = {name: proportion_interval(values) for name, values in hits.items()}  # what training.py stores
    assert camkit.evaluation.rates_table(table, 10) == camkit.evaluation.interval_table(hits)


def test_pointing_hits_are_the_scores_scene_by_scene(model):
    data = ShapeScenes("test", size=64, length=5, seed=5, distractors=2, scale=(0.3, 0.45))
    methods = {"Grad-CAM": camkit.GradCAM(model, "layer4")}
    hits = pointing_hits(model, data, methods, batch_size=2)
    scores = pointing_scores(model, data, methods, batch_size=2)
    assert scores == {"accuracy": hits["correct"].double().mean().item(), "scenes": 5,
                      "Grad-CAM": hits["Grad-CAM"].double().mean().item()}
    x, labels = data.batch(range(5))
    evidence = torch.from_numpy(np.stack([data.scene(i).evidence for i in range(5)]))
    assert torch.equal(hits["Grad-CAM"], pointing_game(methods["Grad-CAM"](x, labels.tolist()), evidence, pointing_tolerance(64)))
    assert torch.equal(hits["correct"], model(x).argmax(1) == labels)


def test_scores_pass_the_seed_of_the_random_baseline_on(model):
    data = ShapeScenes("test", size=64, length=40, seed=5, distractors=2, scale=(0.3, 0.45))
    hits = {seed: pointing_hits(model, data, {}, batch_size=20, baselines=True, seed=seed)["random"] for seed in (0, 1)}
    assert hits[0].sum() != hits[1].sum()  # 40 random points: different seeds, different hit counts
    for seed, expected in hits.items():
        assert pointing_scores(model, data, {}, batch_size=20, baselines=True, seed=seed)["random"] == \
            pytest.approx(expected.double().mean().item())


def test_discrimination_shares_scene_by_scene_with_baselines(model):
    data = ShapeScenes("test", size=64, length=3, objects=2, seed=1, distractors=1)
    flat = {"flat": lambda x, classes: torch.ones(len(x), *x.shape[-2:])}
    shares = discrimination_shares(model, data, flat, batch_size=2, baselines=True)
    assert list(shares) == ["flat", *camkit.evaluation.BASELINES] and all(v.shape == (6,) for v in shares.values())
    areas = np.array([[data.scene(i).masks[j].sum() for j in (0, 1)] for i in range(3)], dtype=float)
    # A flat map puts each object's area share on it (distractors do not count); the ceiling shares all.
    torch.testing.assert_close(shares["flat"], torch.from_numpy(areas / areas.sum(axis=1, keepdims=True)).flatten().float())
    assert (shares["evidence"] == 1).all()
    assert discrimination_scores(model, data, flat, batch_size=2)["flat"] == pytest.approx(shares["flat"].double().mean().item())


def test_interval_table_reports_wilson_and_bootstrap_intervals():
    hits = {"correct": torch.tensor([True] * 8 + [False] * 2), "Grad-CAM": torch.ones(10, dtype=torch.bool)}
    shares = {"Grad-CAM": torch.tensor([0.0, 1.0])}
    assert camkit.evaluation.interval_table(hits, shares).splitlines() == [
        "| map | rate or mean | 95 % interval | n |", "|---|---:|---|---:|",
        "| accuracy | 80.0% | 49.0% – 94.3% | 10 |",  # Wilson by hand: see test_metrics
        "| pointing game, Grad-CAM | 100.0% | 72.2% – 100.0% | 10 |",
        "| share on the named object, Grad-CAM | 0.50 | 0.00 – 1.00 | 2 |",
    ]
