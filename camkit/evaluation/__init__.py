"""Evaluation: metrics on maps (:mod:`.metrics`) and scoring methods on ShapeScenes (:mod:`.scoring`).

>>> from camkit.evaluation import map_methods, pointing_scores
>>> pointing_scores(model, ShapeScenes("test", size=112, length=200), map_methods(model, "layer4"))
"""

from .scoring import (
    MapFunction,
    discrimination_scores,
    eval_mode,
    map_function,
    map_methods,
    pointing_scores,
    saliency,
    summary_markdown,
)

__all__ = [
    "MapFunction",
    "discrimination_scores",
    "eval_mode",
    "map_function",
    "map_methods",
    "pointing_scores",
    "saliency",
    "summary_markdown",
]
