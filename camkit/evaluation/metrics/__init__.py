"""Metrics for maps, torch only and batched (one value per map, so that every mean gets an interval).

Against ground-truth masks (:mod:`.localisation`): the pointing game (Zhang et al. 2016), the
share of a map's mass on an object (:func:`mass_share`), the energy-based pointing game
(Score-CAM, Wang et al. 2020), relevance mass and rank accuracy (CLEVR-XAI, Arras et al. 2022).

Without ground truth, asking the model (faithfulness): Average Drop and Increase in Confidence
(:mod:`.confidence`, Grad-CAM++, Chattopadhay et al. 2018); deletion and insertion curves and
their areas (:mod:`.perturbation`, RISE, Petsiuk et al. 2018); ROAD's remove-and-debias curves with
noisy linear imputation (:mod:`.road`, Rong et al. 2022), zero or mean imputation as options.

The model randomisation sanity check (:mod:`.sanity`, Adebayo et al. 2018): cascading
randomisation, compared by Spearman's rank correlation and SSIM.

Intervals (:mod:`.intervals`): a normal interval for a mean, Wilson's for a rate, a percentile
bootstrap for skewed means.  Also reachable as ``camkit.metrics``.
"""

from .confidence import average_drop, class_probabilities, increase_in_confidence, masked_confidences
from .intervals import bootstrap_interval, mean_interval, proportion_interval
from .localisation import (
    PAPER_IMAGE_SIZE,
    PAPER_TOLERANCE_PX,
    argmax_points,
    bounding_boxes,
    energy_pointing_game,
    mass_share,
    pixel_ranks,
    pointing_game,
    pointing_tolerance,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)
from .perturbation import curve_auc, deletion_curves, insertion_curves, perturbation_curves, rise_blur
from .road import ROAD_FRACTIONS, impute, linear_imputation, road_curves, road_removed
from .sanity import cascading_randomization, randomization_scores, randomize, spearman_correlation, ssim

__all__ = [
    "PAPER_IMAGE_SIZE",
    "ROAD_FRACTIONS",
    "PAPER_TOLERANCE_PX",
    "argmax_points",
    "average_drop",
    "bootstrap_interval",
    "bounding_boxes",
    "cascading_randomization",
    "class_probabilities",
    "curve_auc",
    "deletion_curves",
    "energy_pointing_game",
    "impute",
    "increase_in_confidence",
    "insertion_curves",
    "linear_imputation",
    "masked_confidences",
    "mass_share",
    "mean_interval",
    "perturbation_curves",
    "pixel_ranks",
    "pointing_game",
    "pointing_tolerance",
    "proportion_interval",
    "randomization_scores",
    "randomize",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "rise_blur",
    "road_curves",
    "road_removed",
    "spearman_correlation",
    "ssim",
]
