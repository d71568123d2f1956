"""``camkit.targets``: what to explain, as small callables on the model's output (see
:mod:`camkit.core.targets`, where they live), importable as ``from camkit.targets import ...``."""

from .core.targets import (  # noqa: F401 - re-exported
    BinaryLogit,
    ClassLogit,
    ClassProbability,
    LabelProbability,
    RegressionOutput,
    SegmentationRegion,
    Target,
)

__all__ = ["BinaryLogit", "ClassLogit", "ClassProbability", "LabelProbability", "RegressionOutput", "SegmentationRegion", "Target"]
