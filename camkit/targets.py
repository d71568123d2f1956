"""What to explain: turn a ``target`` argument into one score per sample.

A target is ``None`` (each sample's top-1 class), an ``int`` (the same class for every sample), a
sequence of B ints (one class per sample), or a callable that takes the logits (B, C) and returns
B scores, as in pytorch-grad-cam.  :class:`ClassLogit` and :class:`ClassProbability` are such
callables.  Every method backpropagates ``scores.sum()``: samples do not interact in an eval-mode
network, so each sample's gradient is that of its own score.
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


def target_scores(target: Target, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scores (B,) to differentiate, and the class indices (B,) when the target names classes."""
    if logits.dim() != 2:
        raise ValueError(f"The model must return logits of shape (B, classes), got {tuple(logits.shape)}.")
    if callable(target) and not isinstance(target, torch.Tensor):
        scores = target(logits)
        if not isinstance(scores, torch.Tensor) or scores.shape != (logits.shape[0],):
            shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise ValueError(f"A target callable must return one score per sample, shape ({logits.shape[0]},); it returned {shape}.")
        return scores, None
    classes = class_indices(target, logits)
    return logits.gather(1, classes[:, None])[:, 0], classes
