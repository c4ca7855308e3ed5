"""Calibration on numpy arrays: the randomised PIT, central-interval coverage that does not count ties as
covered, and the PIT (rank) histogram.

**The randomised PIT.** For an ensemble ``x_1..x_S`` and a truth ``y``, let ``b = #{x_s < y}`` and
``e = #{x_s = y}``. The randomised PIT is ``u = (b + U + V) / (S + 1)`` with ``U`` uniform on
``{0, ..., e}`` and ``V ~ U(0, 1)``: given the data, ``u`` is uniform on the *PIT interval*
``[lo, hi] = [b/(S+1), (b+e+1)/(S+1)]``. For a method with a predictive CDF ``F`` the same construction is
``u ~ U(F(y−), F(y))`` (one point ``F(y)`` where ``F`` is continuous, an interval at a point mass such as
``y = 0 mm``).

**Why ties no longer flatter.** If the truth and the members are exchangeable (a calibrated ensemble, with
or without ties, e.g. a zero-inflated rain distribution), the randomised rank ``b + U`` is uniform on
``{0, ..., S}``, so ``u`` is exactly ``U(0, 1)`` for *every* ``S``. A point is "covered" by the central
``level`` interval when ``u ∈ [(1−level)/2, (1+level)/2]``, hence a calibrated ``S``-member ensemble has
expected coverage exactly ``level`` (0.90 for the 90 % interval), whatever ``S`` and however many dry
draws tie with a dry truth. The scores here use the *expectation* of that randomised indicator given the
data — the fraction of ``[lo, hi]`` inside ``[(1−level)/2, (1+level)/2]`` — so they need no seed, have a
smaller variance and the same mean. For contrast, the sample-quantile interval with both ends included
(:func:`climate_bnnp.metrics.scores.coverage`) covers about ``level·(S−1)/(S+1)`` (0.85 for S = 32, 0.62
for S = 5) for a continuous predictive, and always covers a dry truth once ≥ 5 % of the draws are exactly 0.

Conventions as in :mod:`climate_bnnp.metrics.scores`: samples lead ``(S, ..., N)``; NaN targets and
``mask == False`` points are ignored (their PIT interval is NaN); NaN in a prediction at a valid point
propagates.
"""

from __future__ import annotations

import numpy as np

from climate_bnnp.metrics._arrays import (
    Axis,
    as_float_array,
    check_samples,
    masked_mean,
    normalise_axes,
    scalar_or_array,
    valid_mask,
)

__all__ = [
    "central_coverage",
    "central_coverage_from_pit",
    "coverage_probability",
    "pit_histogram",
    "pit_interval",
    "pit_interval_from_cdf",
    "randomised_pit",
    "rank_histogram",
]

CDF_TOLERANCE = 1e-9
"""Slack allowed in ``0 ≤ F(y−) ≤ F(y) ≤ 1`` for CDF values computed in floating point."""


def pit_interval(y, samples, *, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """The interval ``[lo, hi] = [b/(S+1), (b+e+1)/(S+1)]`` on which the randomised PIT of ``y`` is uniform.

    Args:
        y: targets ``(..., N)``.
        samples: ensemble members ``(S, ..., N)``.
        mask: optional boolean array broadcastable to ``y`` (True = use the point).

    Returns:
        ``(lo, hi)``, each of the broadcast point shape, ``0 ≤ lo < hi ≤ 1``; NaN where the target is NaN or
        masked out, and where any member is NaN.
    """
    y = as_float_array(y, "y")
    x = as_float_array(samples, "samples")
    shape = check_samples(y, x, "samples")
    valid = valid_mask(y, mask, shape)
    num = x.shape[0]
    below = np.sum(x < y, axis=0)  # (..., N)
    ties = np.sum(x == y, axis=0)
    broken = np.any(np.isnan(x), axis=0)
    lo = np.where(broken, np.nan, below / (num + 1.0))
    hi = np.where(broken, np.nan, (below + ties + 1.0) / (num + 1.0))
    return (
        np.where(valid, np.broadcast_to(lo, shape), np.nan),
        np.where(valid, np.broadcast_to(hi, shape), np.nan),
    )


def pit_interval_from_cdf(cdf_left, cdf, *, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """The PIT interval ``[F(y−), F(y)]`` of a predictive with a CDF (checked and clipped to [0, 1]).

    Args:
        cdf_left: ``F(y−) = P(Y < y)`` at the truth, any shape; for a continuous predictive the same array as
            ``cdf``. At a point mass (e.g. dry truth ``y = 0`` with ``P(Y = 0) = 1 − π``) it is below ``cdf``.
        cdf: ``F(y) = P(Y ≤ y)`` at the truth, broadcastable with ``cdf_left``.
        mask: optional boolean array (True = use the point); masked points give NaN.

    Returns:
        ``(lo, hi)`` of the broadcast shape; NaN where masked or where either input is NaN (a NaN target
        gives a NaN CDF: pass ``mask=~np.isnan(y)`` to tell it from a broken prediction).
    """
    lo = as_float_array(cdf_left, "cdf_left")
    hi = as_float_array(cdf, "cdf")
    try:
        shape = np.broadcast_shapes(lo.shape, hi.shape)
    except ValueError as exc:
        raise ValueError(
            f"cdf_left: shape {lo.shape} does not broadcast with cdf of shape {hi.shape}"
        ) from exc
    bad = (lo < -CDF_TOLERANCE) | (hi > 1 + CDF_TOLERANCE) | (lo > hi + CDF_TOLERANCE)
    if np.any(bad):
        raise ValueError(
            f"cdf_left, cdf: expected 0 <= F(y-) <= F(y) <= 1, got {int(np.sum(bad))} point(s) outside; pass "
            "P(Y < y) first and P(Y <= y) second"
        )
    valid = np.ones(shape, dtype=bool) if mask is None else valid_mask(np.zeros(shape), mask, shape)
    lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return np.where(valid, lo, np.nan), np.where(valid, hi, np.nan)


def _check_level(level: float) -> float:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level: expected a central-interval probability in (0, 1), got {level}")
    return float(level)


def coverage_probability(lo, hi, level: float = 0.9) -> np.ndarray:
    """Per point, the probability that the randomised PIT ``u ~ U(lo, hi)`` falls in the central interval.

    ``|[lo, hi] ∩ [a, b]| / (hi − lo)`` with ``a, b = (1 ∓ level)/2``; where ``lo = hi`` (a continuous
    CDF) it is ``1{a ≤ lo ≤ b}``. In [0, 1]; NaN where ``lo`` or ``hi`` is NaN. Shape of ``lo``/``hi``.
    """
    lo, hi = as_float_array(lo, "lo"), as_float_array(hi, "hi")
    level = _check_level(level)
    a, b = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    width = hi - lo
    overlap = np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), ((lo >= a) & (lo <= b)) * 1.0)
    return np.where(np.isnan(lo) | np.isnan(hi), np.nan, frac)


def central_coverage_from_pit(lo, hi, level: float = 0.9, *, mask=None, axis: Axis = -1):
    """Mean of :func:`coverage_probability` over the points along ``axis`` where ``mask`` is True
    (default: all points; NaN PIT intervals at used points propagate)."""
    prob = coverage_probability(lo, hi, level)
    valid = (
        np.ones(prob.shape, dtype=bool)
        if mask is None
        else valid_mask(np.zeros(prob.shape), mask, prob.shape)
    )
    return scalar_or_array(masked_mean(prob, valid, normalise_axes(axis, prob.ndim)))


def central_coverage(y, samples, level: float = 0.9, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Coverage of the central ``level`` interval from an ensemble, ties at the ends not counted as covered.

    The mean over valid targets of the probability that the randomised PIT lies in
    ``[(1−level)/2, (1+level)/2]`` (see the module docstring): a calibrated ``S``-member ensemble gives
    exactly ``level`` in expectation (0.90 for ``level = 0.9``) for every ``S``, with or without a point
    mass at 0 mm. Below ``level``: over-confident; above: under-confident.

    Args:
        y: targets ``(..., N)``; samples: members ``(S, ..., N)``.
        level: the central probability, in (0, 1).
        mask: optional boolean array broadcastable to ``y`` (True = use the point).
        axis: target axes averaged over (default ``-1``; ``None`` = all).

    Returns:
        A float or an array over the axes of ``y`` not in ``axis``; NaN where no target is valid.
    """
    lo, hi = pit_interval(y, samples, mask=mask)
    valid = valid_mask(as_float_array(y, "y"), mask, lo.shape)
    return central_coverage_from_pit(lo, hi, level, mask=valid, axis=axis)


def randomised_pit(lo, hi, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Draws of the randomised PIT, ``u = lo + V (hi − lo)`` with ``V ~ U(0, 1)`` from
    ``np.random.default_rng(seed)``; shape of ``lo``/``hi``, NaN where they are NaN. ``U(0, 1)`` for a
    calibrated predictive."""
    lo, hi = as_float_array(lo, "lo"), as_float_array(hi, "hi")
    rng = np.random.default_rng(seed)
    shape = np.broadcast_shapes(lo.shape, hi.shape)
    return lo + rng.uniform(size=shape) * (hi - lo)


def pit_histogram(lo, hi, bins: int = 10, *, mask=None, axis: Axis = -1) -> np.ndarray:
    """The (rank) histogram of the randomised PIT: the expected fraction of points per bin.

    Each point spreads unit mass uniformly over its PIT interval ``[lo, hi]`` (all of it in one bin where
    ``lo = hi``); the mass in ``bins`` equal bins of [0, 1] is averaged over the points along ``axis``.
    This is the expectation of the histogram of :func:`randomised_pit` draws, without their noise. Flat
    (``1/bins`` each) for a calibrated predictive; U-shaped: over-confident; ∩-shaped: under-confident;
    the many exact zeros of dry cells spread over the bins below ``1 − π`` instead of piling up in one.

    Args:
        lo, hi: PIT intervals (:func:`pit_interval` or :func:`pit_interval_from_cdf`), ``(..., N)``.
        bins: number of equal-width bins (≥ 1).
        mask: optional boolean array (True = use the point); default all points.
        axis: axes averaged over (default ``-1``; ``None`` = all).

    Returns:
        Frequencies ``(*kept_axes, bins)`` summing to 1 (NaN if a used point has a NaN interval or no point
        is used).
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins: expected a positive integer, got {bins!r}")
    lo, hi = as_float_array(lo, "lo"), as_float_array(hi, "hi")
    shape = np.broadcast_shapes(lo.shape, hi.shape)
    lo, hi = np.broadcast_to(lo, shape)[..., None], np.broadcast_to(hi, shape)[..., None]  # (..., N, 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    left, right = edges[:-1], edges[1:]  # (bins,)
    width = hi - lo
    overlap = np.clip(np.minimum(hi, right) - np.maximum(lo, left), 0.0, None)  # (..., N, bins)
    point_bin = np.clip(np.floor(lo * bins), 0, bins - 1)  # bin of a degenerate interval
    with np.errstate(divide="ignore", invalid="ignore"):
        mass = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), np.arange(bins) == point_bin)
    mass = np.where(np.isnan(lo) | np.isnan(hi), np.nan, mass)
    valid = np.ones(shape, dtype=bool) if mask is None else valid_mask(np.zeros(shape), mask, shape)
    axes = normalise_axes(axis, len(shape))
    return masked_mean(mass, valid[..., None], axes)


def rank_histogram(y, samples, bins: int = 10, *, mask=None, axis: Axis = -1) -> np.ndarray:
    """:func:`pit_histogram` of an ensemble's PIT intervals over its valid targets (ties randomised).

    Args:
        y: targets ``(..., N)``; samples: members ``(S, ..., N)``; bins: number of bins of [0, 1].
        mask: optional boolean array broadcastable to ``y`` (True = use the point).
        axis: target axes averaged over (default ``-1``; ``None`` = all).

    Returns:
        Frequencies ``(*kept_axes, bins)`` summing to 1 over the bins.
    """
    lo, hi = pit_interval(y, samples, mask=mask)
    valid = valid_mask(as_float_array(y, "y"), mask, lo.shape)
    return pit_histogram(lo, hi, bins, mask=valid, axis=axis)
