"""ShapeScenes: reproducible, disjoint splits, ground truth consistent with the pixels."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from camkit.image import IMAGENET_MEAN, IMAGENET_STD
from camkit.evaluation.metrics import pointing_game, pointing_tolerance
from camkit.zoo.shapes import SHAPE_CLASSES, ShapeScenes, mask_box, show_scenes


def digest(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes()).hexdigest()


def test_same_seed_same_scene_in_any_order():
    first = ShapeScenes("train", size=64, length=20, seed=3)
    second = ShapeScenes("train", size=64, length=20, seed=3)
    forward = [digest(first.scene(i).image) for i in range(10)]
    backward = [digest(second.scene(i).image) for i in reversed(range(10))][::-1]
    assert forward == backward
    other_seed = ShapeScenes("train", size=64, length=20, seed=4)
    assert digest(other_seed.scene(0).image) != forward[0]


def test_splits_are_disjoint():
    hashes = {
        split: {digest(ShapeScenes(split, size=48, length=200).scene(i).image) for i in range(200)}
        for split in ("train", "val", "test")
    }
    assert all(len(h) == 200 for h in hashes.values())
    assert not hashes["train"] & hashes["val"]
    assert not hashes["train"] & hashes["test"]
    assert not hashes["val"] & hashes["test"]


def test_item_is_normalised_tensor_and_label():
    data = ShapeScenes("val", size=80, length=5)
    x, label = data[2]
    scene = data.scene(2)
    assert x.shape == (3, 80, 80) and x.dtype == torch.float32
    assert isinstance(label, int) and label == scene.labels[0] and 0 <= label < len(SHAPE_CLASSES)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    raw = torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(x * std + mean, raw, atol=1e-5, rtol=0)
    assert scene.image.dtype == np.uint8 and scene.image.shape == (80, 80, 3)


def test_labels_cover_all_classes_evenly():
    labels = ShapeScenes("train", size=32, length=600).batch(range(600))[1]
    counts = torch.bincount(labels, minlength=len(SHAPE_CLASSES))
    assert counts.min() > 600 / len(SHAPE_CLASSES) * 0.6


@pytest.mark.parametrize("objects", [1, 2])
def test_masks_and_boxes_match_the_drawn_objects(objects):
    data = ShapeScenes("test", size=96, length=40, objects=objects)
    for i in range(40):
        scene = data.scene(i)
        assert scene.masks.shape == (objects, 96, 96) and scene.masks.dtype == bool
        assert scene.boxes.shape == (objects, 4)
        for mask, box in zip(scene.masks, scene.boxes):
            assert mask.sum() > 0.01 * 96 * 96
            np.testing.assert_array_equal(box, mask_box(mask))
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96
            # Away from its anti-aliased edge, an object is one flat colour (plus a little noise).
            interior = mask & np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1)
            assert scene.image[interior].astype(float).std(axis=0).max() < 12


def test_mask_is_where_the_shape_was_painted():
    """Render the same scene with the object and compare: pixels change exactly on the mask."""
    data = ShapeScenes("train", size=64, length=3, noise=0.0, contrast=150.0)
    scene = data.scene(1)
    colour = np.median(scene.image[scene.masks[0]], axis=0)
    close = np.abs(scene.image.astype(int) - colour).max(axis=2) <= 2
    inner = scene.masks[0] & ~np.roll(~scene.masks[0], 1, 0) & ~np.roll(~scene.masks[0], -1, 0)
    inner &= ~np.roll(~scene.masks[0], 1, 1) & ~np.roll(~scene.masks[0], -1, 1)
    assert close[inner].mean() > 0.99  # interior: the object's colour
    grown = scene.masks[0].copy()
    for axis in (0, 1):
        for shift in (-2, -1, 1, 2):
            grown |= np.roll(scene.masks[0], shift, axis)
    assert close[~grown].mean() < 0.02  # outside (edges are anti-aliased): the background


def test_two_object_scenes_have_two_classes_and_disjoint_masks():
    data = ShapeScenes("val", size=96, length=50, objects=2)
    touching = ShapeScenes("test", size=64, length=1, objects=2, seed=1).scene(0)  # edges 1 px apart
    for scene in [data.scene(i) for i in range(50)] + [touching]:
        assert scene.labels.shape == (2,) and scene.labels[0] != scene.labels[1]
        assert not (scene.masks[0] & scene.masks[1]).any()
        assert len(scene.names) == 2
    x, labels = data[0]
    assert labels.shape == (2,) and labels.dtype == torch.int64


def test_pointing_game_on_ground_truth():
    data = ShapeScenes("test", size=96, length=8)
    scenes = [data.scene(i) for i in range(8)]
    masks = torch.from_numpy(np.stack([s.masks[0] for s in scenes]))
    assert pointing_game(masks.float(), masks, 0).all()  # the mask itself points at the mask
    far = torch.zeros_like(masks, dtype=torch.float32)
    far[:, 0, 0] = 1  # argmax in a corner, away from most objects
    hits = pointing_game(far, masks, pointing_tolerance(96))
    corner = masks[:, :8, :8].flatten(1).any(dim=1)
    assert not hits[~corner].any()
    assert pointing_tolerance(224) == 15


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="split"):
        ShapeScenes("training")
    with pytest.raises(ValueError, match="objects"):
        ShapeScenes(objects=3)
    with pytest.raises(IndexError):
        ShapeScenes(length=3).scene(3)


def test_grid_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = show_scenes(ShapeScenes("val", size=64, length=10, objects=2), count=6)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert len(titles) == 6 and all("+" in t for t in titles)
    plt.close(figure)
