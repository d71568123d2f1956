"""Confidence intervals for the scores of :mod:`.localisation` and the other metrics: a normal
interval for a mean, Wilson's for a rate, a percentile bootstrap for a mean of skewed values."""

from __future__ import annotations

import math

import torch


def mean_interval(values: torch.Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` (1-D, NaNs dropped) and its normal-approximation
    confidence interval, mean +- z * sd / sqrt(n) (z = 1.96: 95 %; fine from about 30 values).

    For a comparison of two methods on the same scenes, pass the per-scene differences: the
    interval of the mean difference is far narrower than the two intervals side by side.
    """
    values = values.detach().double().flatten()
    values = values[~values.isnan()]
    if values.numel() < 2:
        raise ValueError(f"mean_interval needs at least 2 values that are not NaN, got {values.numel()}.")
    mean = values.mean().item()
    half = z * values.std().item() / math.sqrt(values.numel())
    return mean, mean - half, mean + half


def proportion_interval(hits: torch.Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """``(rate, low, high)``: the hit rate of boolean ``hits`` and its Wilson score interval
    (Wilson, JASA 1927; z = 1.96: 95 %), which stays inside [0, 1] also at rates of 0 or 1.

    With k hits of n, p = k / n: centre (p + z^2 / 2n) / (1 + z^2 / n), half-width
    z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2).
    """
    n = hits.numel()
    if n == 0:
        raise ValueError("proportion_interval needs at least one hit or miss.")
    p = hits.detach().double().mean().item()
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return p, centre - half, centre + half


def bootstrap_interval(values: torch.Tensor, resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` (1-D, NaNs dropped) and its percentile
    bootstrap interval (Efron 1979): the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of
    the means of ``resamples`` resamples drawn with replacement, from a generator seeded with ``seed``.

    Unlike :func:`mean_interval` it assumes no normal mean, which suits shares piled up near 0 or 1.
    """
    values = values.detach().double().flatten().cpu()
    values = values[~values.isnan()]
    if values.numel() < 2:
        raise ValueError(f"bootstrap_interval needs at least 2 values that are not NaN, got {values.numel()}.")
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(values), (resamples, len(values)), generator=generator)
    means = values[picks].mean(dim=1)
    tails = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    low, high = torch.quantile(means, tails).tolist()
    return values.mean().item(), low, high
