"""camkit.evaluation.segmentation: the per-pixel truth, mean IoU and the segmenter's hits.

Golden values: mean IoU of a confusion matrix computed by hand; the hits of a model built to be
right (it paints the true mask) or wrong, whose answers are known without running a network."""

from __future__ import annotations

import math

import torch
from torch import nn

from camkit.evaluation.segmentation import mean_iou, pixel_classes, segmentation_hits
from camkit.zoo.shapes import ShapeScenes


def test_pixel_classes_put_the_label_plus_one_on_the_evidence():
    evidence = torch.zeros(2, 3, 3, dtype=torch.bool)
    evidence[0, 1, 1] = evidence[1, 0, :] = True
    truth = pixel_classes(torch.tensor([0, 4]), evidence)
    assert truth[0].tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert truth[1].tolist() == [[5, 5, 5], [0, 0, 0], [0, 0, 0]]


def test_mean_iou_by_hand():
    # truth x prediction: class 0: 8 right, 2 called 1; class 1: 3 right, 1 called 0; class 2 absent
    confusion = torch.tensor([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    mean, per_class = mean_iou(confusion)
    assert math.isclose(per_class[0].item(), 8 / (10 + 9 - 8))
    assert math.isclose(per_class[1].item(), 3 / (4 + 5 - 3))
    assert math.isnan(per_class[2].item())  # neither in the truth nor predicted: not averaged
    assert math.isclose(mean, (8 / 11 + 3 / 6) / 2)


class Oracle(nn.Module):
    """A 'segmenter' that paints the given masks with the given classes (logit 10, else 0), computed
    from x through a 1x1 convolution so that maps have a gradient."""

    def __init__(self, truth: torch.Tensor, classes: int = 7) -> None:
        super().__init__()
        self.truth, self.classes = truth, classes
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        painted = torch.nn.functional.one_hot(self.truth[: len(x)], self.classes).permute(0, 3, 1, 2).float() * 10
        return {"out": painted + 0 * self.conv(x).sum(dim=1, keepdim=True)}


def test_a_perfect_segmenter_scores_iou_one_and_every_object_right():
    data = ShapeScenes("test", size=48, length=6)
    x, labels, evidence = data.bank().batch(0, 6)
    model = Oracle(pixel_classes(labels, evidence))
    evidence_map = lambda x, target: evidence.float()  # noqa: E731 - a map that is the evidence itself
    hits, confusion = segmentation_hits(model, data, {"evidence map": evidence_map}, batch_size=6)
    assert hits["correct"].all() and hits["evidence map"].all()
    assert confusion.sum() == 6 * 48 * 48
    assert mean_iou(confusion)[0] == 1.0


def test_a_segmenter_that_sees_only_background_gets_no_object_right():
    data = ShapeScenes("test", size=48, length=4)
    model = Oracle(torch.zeros(4, 48, 48, dtype=torch.long))
    hits, confusion = segmentation_hits(model, data, {}, batch_size=4, baselines=True)
    assert not hits["correct"].any()
    assert set(hits) == {"correct", "random", "centre", "edges", "evidence"} and hits["evidence"].all()
    assert confusion[:, 1:].sum() == 0  # nothing predicted but background
