"""ShapeScenes: reproducible, disjoint splits, ground truth consistent with the pixels."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from camkit.image import IMAGENET_MEAN, IMAGENET_STD
from camkit.evaluation.metrics import pointing_game, pointing_tolerance
from camkit.zoo.shapes import DISTRACTOR, DISTRACTOR_SHAPES, SHAPE_CLASSES, SceneBank, ShapeScenes, mask_box, show_scenes


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
    data = ShapeScenes("test", size=96, length=40, objects=objects)  # and the default two distractors
    for i in range(40):
        scene = data.scene(i)
        assert scene.masks.shape == (objects + 2, 96, 96) and scene.masks.dtype == bool
        assert scene.boxes.shape == (objects + 2, 4)
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
    data = ShapeScenes("val", size=96, length=50, objects=2, distractors=0)
    touching = ShapeScenes("test", size=64, length=1, objects=2, seed=1, distractors=0).scene(0)  # edges 1 px apart
    for scene in [data.scene(i) for i in range(50)] + [touching]:
        assert scene.labels.shape == (2,) and scene.labels[0] != scene.labels[1]
        assert not (scene.masks[0] & scene.masks[1]).any()
        assert len(scene.names) == 2
    x, labels = data[0]
    assert labels.shape == (2,) and labels.dtype == torch.int64


@pytest.mark.parametrize("objects", [1, 2])
def test_distractors_carry_no_class_and_the_evidence_is_the_class_objects(objects):
    data = ShapeScenes("val", size=96, length=30, objects=objects, distractors=2, scale=(0.25, 0.4))
    for i in range(30):
        scene = data.scene(i)
        assert scene.labels.shape == (objects + 2,) and (scene.labels[objects:] == DISTRACTOR).all()
        assert (scene.labels[:objects] >= 0).all() and len(set(scene.labels[:objects])) == objects
        assert scene.names[:objects] == [SHAPE_CLASSES[c] for c in scene.labels[:objects]]
        assert all(name in DISTRACTOR_SHAPES for name in scene.names[objects:])
        assert scene.masks.shape == (objects + 2, 96, 96) and scene.masks.sum(axis=0).max() == 1  # disjoint
        np.testing.assert_array_equal(scene.evidence, scene.masks[:objects].any(axis=0))
        np.testing.assert_array_equal(scene.distractors, scene.masks[objects:].any(axis=0))
        assert all(mask.sum() > 0.005 * 96 * 96 for mask in scene.masks)
    x, labels = data.batch(range(4))
    assert labels.shape == ((4,) if objects == 1 else (4, objects)) and (labels >= 0).all()
    item = data[0][1]
    assert item == data.scene(0).labels[0] if objects == 1 else item.shape == (2,)
    assert ShapeScenes("val", size=96, length=30, objects=objects, distractors=0).scene(3).distractors.sum() == 0
    default = ShapeScenes("val", size=96, length=30, objects=objects).scene(3)  # the benchmark's scenes
    assert (default.labels == DISTRACTOR).sum() == 2 and default.distractors.any()


def test_distractors_are_placed_and_drawn_like_the_evidence():
    """Position, size and contrast do not tell the evidence from a distractor: over 600 scenes the
    mean distance to the centre, the area and the colour distance to the surrounding background
    of the evidence and of the distractors agree within 3 standard errors of their difference."""
    data = ShapeScenes("val", size=96, length=600, distractors=2, scale=(0.3, 0.45))
    features = {"evidence": [], "distractor": []}
    for i in range(len(data)):
        scene = data.scene(i)
        background = ~scene.masks.any(axis=0)
        for mask, label in zip(scene.masks, scene.labels):
            rows, cols = np.nonzero(mask)
            ring = np.zeros_like(mask)
            ring[max(rows.min() - 4, 0) : rows.max() + 5, max(cols.min() - 4, 0) : cols.max() + 5] = True
            contrast = np.linalg.norm(scene.image[mask].mean(axis=0) - scene.image[ring & background].mean(axis=0))
            centre = np.hypot(rows.mean() - 47.5, cols.mean() - 47.5)
            features["distractor" if label == DISTRACTOR else "evidence"].append((centre, mask.sum(), contrast))
    evidence, distractor = np.array(features["evidence"]), np.array(features["distractor"])
    error = np.sqrt(evidence.var(axis=0) / len(evidence) + distractor.var(axis=0) / len(distractor))
    difference = np.abs(evidence.mean(axis=0) - distractor.mean(axis=0))
    # The area differs a little by construction (a star covers less of its circle than a square),
    # so it is compared with a relative bound instead.
    assert difference[0] < 3 * error[0] and difference[2] < 3 * error[2]
    assert difference[1] < 0.15 * evidence[:, 1].mean()


def test_crowded_scenes_still_place_every_shape():
    data = ShapeScenes("test", size=64, length=10, distractors=3, scale=(0.45, 0.5))  # four near-maximal shapes
    for i in range(10):
        scene = data.scene(i)
        assert scene.masks.shape[0] == 4 and scene.masks.sum(axis=0).max() == 1
        assert all(mask.any() for mask in scene.masks)


def test_scene_bank_holds_the_scenes_in_one_allocation():
    """A training run reads its bank batch by batch: growing the arrays per batch would copy the
    whole bank every step (the quadratic slowdown that once tripled ShuffleNet's training time)."""
    data = ShapeScenes("train", size=24, length=12)
    bank = SceneBank(data)
    images = bank.images
    for start in range(0, 12, 4):
        x, labels, masks = bank.batch(start, start + 4)
        scenes = [data.scene(i) for i in range(start, start + 4)]
        assert labels.tolist() == [int(s.labels[0]) for s in scenes]
        assert np.array_equal(masks.numpy(), np.stack([s.evidence for s in scenes]))
    assert bank.images is images and len(bank) == 12 and bank.count == 12


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
    with pytest.raises(ValueError, match="distractors"):
        ShapeScenes(distractors=-1)
    with pytest.raises(ValueError, match=r"high <= 0.5 for 3 shape"):
        ShapeScenes(distractors=2, scale=(0.3, 0.6))
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
