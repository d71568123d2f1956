"""What to explain: turn a ``target`` argument into one score per sample.

A target is ``None`` (each sample's top-1 class), an ``int`` (the same class for every sample), a
sequence of B ints (one class per sample), or a callable that takes the model's output (the logits
(B, C), or whatever the model returns: a dict, a namedtuple) and returns B scores, as in
pytorch-grad-cam.  Such callables, for the outputs users have:

* softmax classifiers: :class:`ClassLogit` (y^c, what the papers explain), :class:`ClassProbability`;
* multi-label (one sigmoid per label): :class:`ClassLogit` of the label, or :class:`LabelProbability`;
* one logit for two classes: :class:`BinaryLogit` (the logit, or its negation for the other class);
* regression: :class:`RegressionOutput` (the value, or its negation: "what makes it smaller?");
* segmentation: :class:`SegmentationRegion`, the sum of a class's logits over a region (a mask,
  or the pixels predicted as that class).

Every method backpropagates ``scores.sum()``: samples do not interact in an eval-mode network, so
each sample's gradient is that of its own score.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Target = None | int | Sequence[int] | torch.Tensor | Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ClassLogit:
    """Score = the logit y^c of class ``index`` (the pre-softmax score the papers use)."""

    index: int

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, self.index]


@dataclass(frozen=True)
class ClassProbability:
    """Score = softmax probability of class ``index``."""

    index: int

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(dim=1)[:, self.index]


@dataclass(frozen=True)
class LabelProbability:
    """Score = sigmoid(y^c) of label ``index`` in a multi-label output (B, labels).

    Its gradient is the logit's times sigma'(y^c) = p (1 - p), one positive number per sample, so
    the normalised map equals :class:`ClassLogit`'s, until p saturates: for a confident label p is
    1 in float32, sigma' is exactly 0 and so is the map (camkit warns); explain the logit then."""

    index: int

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, self.index].sigmoid()


def _one_value_per_sample(output: torch.Tensor, what: str, index: int | None) -> torch.Tensor:
    """(B,) from an output (B,), (B, 1), or (B, k) with ``index``."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"{what} takes a tensor output, got {type(output).__name__}; wrap it: lambda out: ...")
    if output.dim() == 2 and index is not None:
        return output[:, index]
    if output.dim() == 1 or (output.dim() == 2 and output.shape[1] == 1):
        return output.reshape(len(output))
    raise ValueError(f"{what} needs an output of shape (B,) or (B, 1), or index= for (B, k); got {tuple(output.shape)}.")


@dataclass(frozen=True)
class BinaryLogit:
    """A model with one logit z for two classes (sigmoid(z) = p(positive)): score = z for the
    positive class, -z for the negative one (``positive=False``), whose logit it is."""

    positive: bool = True

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        z = _one_value_per_sample(output, "BinaryLogit", None)
        return z if self.positive else -z


@dataclass(frozen=True)
class RegressionOutput:
    """Score = the predicted value (``index`` picks one of several outputs); ``increase=False``
    explains what makes it smaller (the negated value)."""

    index: int | None = None
    increase: bool = True

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        value = _one_value_per_sample(output, "RegressionOutput", self.index)
        return value if self.increase else -value


@dataclass(frozen=True, eq=False)
class SegmentationRegion:
    """Score = the sum of class ``index``'s logits over a region of a segmentation output
    (B, classes, H, W): the pixels of ``mask`` ((H, W) or (B, H, W), bool), or without one the
    pixels the model labels ``index`` (its argmax).  ``index`` is one class for every sample or a
    sequence of B classes, one per sample.  ``key`` picks the tensor from a dict output
    (torchvision's segmentation models return ``{"out": ..., "aux": ...}``).

    "Why did it label this region a star?": y = sum_{(i, j) in region} y^c_{ij} (pytorch-grad-cam's
    ``SemanticSegmentationTarget``).  A region with no pixel scores 0.
    """

    index: int | Sequence[int]
    mask: torch.Tensor | None = None
    key: str | None = "out"

    def __call__(self, output: object) -> torch.Tensor:
        logits = output[self.key] if isinstance(output, dict) and self.key is not None else output
        if not isinstance(logits, torch.Tensor) or logits.dim() != 4:
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"SegmentationRegion needs logits (B, classes, H, W), got {got}; key= picks one from a dict.")
        batch, classes, height, width = logits.shape
        index = torch.as_tensor(self.index, device=logits.device).reshape(-1).expand(batch) if _is_index(self.index, batch) else None
        if index is None or not ((0 <= index) & (index < classes)).all():
            raise ValueError(f"SegmentationRegion's index must be a class 0..{classes - 1} or {batch} of them (one per sample); "
                             f"got {self.index!r}.")
        class_logits = logits.gather(1, index[:, None, None, None].expand(batch, 1, height, width))[:, 0]
        region = logits.argmax(dim=1) == index[:, None, None] if self.mask is None else torch.as_tensor(self.mask, device=logits.device)
        if region.shape[-2:] != logits.shape[-2:]:
            raise ValueError(f"The mask is {tuple(region.shape[-2:])} but the logits are {tuple(logits.shape[-2:])} (H, W).")
        return (class_logits * region.to(logits.dtype)).sum(dim=(1, 2))


def _is_index(index: object, batch: int) -> bool:
    """Whether ``index`` is one int or ``batch`` ints."""
    if isinstance(index, torch.Tensor):
        index = index.tolist()
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        return True
    return (isinstance(index, Sequence) and len(index) == batch
            and all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in index))


def _class_list(target: object, batch: int) -> list[int] | None:
    """The per-sample class indices a target names, or None for a callable."""
    if isinstance(target, torch.Tensor):
        if target.dtype.is_floating_point or target.dtype == torch.bool or target.dim() > 1:
            raise TypeError(f"A target tensor must hold integer class indices (0-D or 1-D), got {target.dtype} of shape {tuple(target.shape)}.")
        target = target.tolist()
    if isinstance(target, bool):
        raise TypeError("target=True/False is not a class index; pass an int, a list of ints, a callable or None.")
    if isinstance(target, numbers.Integral):
        return [int(target)] * batch
    if isinstance(target, Sequence) and not isinstance(target, str):
        if not all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in target):
            raise TypeError(f"target must be a sequence of int class indices, got {list(target)!r}.")
        if len(target) != batch:
            raise ValueError(
                f"target names {len(target)} classes but the batch has {batch} samples; "
                "give one class per sample, or a single int for all of them."
            )
        return [int(t) for t in target]
    return None


def class_indices(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """Per-sample class indices (B,) for a class target: top-1 for ``None``; range-checked."""
    batch, num_classes = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    classes = _class_list(target, batch)
    if classes is None:
        raise TypeError(f"Expected None, an int or a sequence of ints as target, got {type(target).__name__}.")
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"Class index {bad[0]} is out of range: the model has {num_classes} classes (0..{num_classes - 1}).")
    return torch.tensor(classes, device=logits.device)


def target_scores(target: Target, output: object) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scores (B,) to differentiate, and the class indices (B,) when the target names classes.

    A callable target receives the model's raw ``output``; class targets need (B, classes) logits.
    Non-finite scores raise: a map of a NaN score would be silently all zero.
    """
    if callable(target) and not isinstance(target, torch.Tensor):
        scores = target(output)
        batch = output.shape[0] if isinstance(output, torch.Tensor) else None
        if not isinstance(scores, torch.Tensor) or scores.dim() != 1 or (batch is not None and scores.shape[0] != batch):
            shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            wanted = f"({batch},)" if batch is not None else "(B,)"
            raise ValueError(f"A target callable must return one score per sample, shape {wanted}; it returned {shape}.")
        classes = None
    else:
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"The model returns {type(output).__name__}, not a (B, classes) tensor of logits, so a class index "
                "cannot pick a score. Pass a callable target that takes the output and returns one score per "
                "sample, e.g. target=lambda out: out['out'][:, c].mean(dim=(1, 2)) for a segmentation dict."
            )
        if output.dim() != 2:
            raise ValueError(f"The model must return logits of shape (B, classes), got {tuple(output.shape)}; "
                             "for other outputs pass a callable target.")
        classes = class_indices(target, output)
        scores = output.gather(1, classes[:, None])[:, 0]
    if not torch.isfinite(scores).all():
        raise ValueError(
            "The model's score is NaN or infinite for at least one sample, so its map would mean nothing. "
            "Check the model's weights and the input for NaN/inf values (torch.isfinite)."
        )
    return scores, classes
