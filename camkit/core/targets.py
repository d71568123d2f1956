"""What to explain: turn a ``target`` argument into one score per sample.

A target is ``None`` (each sample's top-1 class), an ``int`` (the same class for every sample), a
sequence of B ints (one class per sample), or a callable that takes the model's output (the logits
(B, C), or whatever the model returns: a dict, a namedtuple) and returns B scores, as in
pytorch-grad-cam.  :class:`ClassLogit` and :class:`ClassProbability` are such
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
