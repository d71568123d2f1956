"""Evaluation: metrics on maps (:mod:`.metrics`), class-blind baseline maps (:mod:`.baselines`),
scoring methods on ShapeScenes (:mod:`.scoring`) and over a whole data set across processes
(:mod:`.distributed`).

>>> from camkit.evaluation import interval_table, map_methods, pointing_hits
>>> hits = pointing_hits(model, ShapeScenes("test", size=112), map_methods(model, "layer4"), baselines=True)
>>> print(interval_table(hits))
"""

from .baselines import BASELINES, baseline_maps, centre_maps, edge_maps, random_maps, random_weights
from .distributed import process_group, sharded_scores
from .scoring import (
    MapFunction,
    discrimination_scores,
    discrimination_shares,
    eval_mode,
    faithfulness_scores,
    hit_rates,
    interval_table,
    localisation_scores,
    map_function,
    map_methods,
    mean_shares,
    metric_scores,
    pointing_hits,
    pointing_scores,
    rates_table,
    saliency,
    summary_markdown,
)

__all__ = [
    "BASELINES",
    "MapFunction",
    "baseline_maps",
    "centre_maps",
    "discrimination_scores",
    "discrimination_shares",
    "edge_maps",
    "eval_mode",
    "faithfulness_scores",
    "hit_rates",
    "interval_table",
    "localisation_scores",
    "map_function",
    "map_methods",
    "mean_shares",
    "metric_scores",
    "pointing_hits",
    "pointing_scores",
    "process_group",
    "random_maps",
    "random_weights",
    "rates_table",
    "saliency",
    "sharded_scores",
    "summary_markdown",
]
