"""Ensemble scores that WeatherBench 2 users expect, on numpy arrays: spread–skill, Brier, twCRPS, MAE of
the median.

Conventions as in :mod:`climate_bnnp.metrics.scores`: targets ``y (..., N)``; samples lead,
``samples (S, ..., N)``; NaN targets (and points where the optional boolean ``mask`` is False) are ignored;
NaN in a prediction at a valid point propagates; reductions run over the target axes ``axis`` (default
``-1``; ``None`` = all) and a 0-d result is a Python ``float``. Thresholds are in the units of ``y`` (mm for
precipitation samples already clipped at 0 mm).

The fair (unbiased) ensemble CRPS is :func:`climate_bnnp.metrics.scores.crps_samples` with ``fair=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from climate_bnnp.metrics.scores import crps_samples, mae

__all__ = [
    "brier_score",
    "brier_score_ensemble",
    "exceedance_probability",
    "mae_of_median",
    "pooled_spread_skill_ratio",
    "spread_skill",
    "spread_skill_ratio",
    "twcrps_samples",
]


def _samples(y, samples, name: str = "samples"):
    y = as_float_array(y, "y")
    x = as_float_array(samples, name)
    shape = check_samples(y, x, name)
    return y, x, shape


def spread_skill(y, samples, *, mask=None, axis: Axis = -1) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Ensemble spread and skill (RMSE of the ensemble mean), the two halves of the spread–skill ratio.

    With ``M`` members ``x_1..x_M`` per point, ensemble mean ``x̄`` and unbiased variance
    ``v = 1/(M−1) Σ_m (x_m − x̄)²``, over the ``N`` valid points along ``axis``::

        spread = sqrt( (M+1)/M · 1/N Σ_n v_n ),     skill = sqrt( 1/N Σ_n (x̄_n − y_n)² )

    This is the WeatherBench 2 convention (Fortin et al. 2014): if the truth and the members are
    exchangeable draws from one distribution of variance ``σ²`` (a calibrated ensemble), then
    ``E[v] = σ²`` and ``E[(x̄ − y)²] = σ² + σ²/M = (M+1)/M · σ²`` (the truth's own variance plus that of a
    mean of M draws), so ``spread² `` and ``skill²`` have the same expectation and the ratio is ≈ 1 for
    any ``M``. Without the factor a calibrated ``M``-member ensemble would read ``sqrt(M/(M+1))``
    (0.985 for M = 32). Ratio < 1: under-dispersed (over-confident); > 1: over-dispersed.

    Args:
        y: targets ``(..., N)``.
        samples: ensemble members ``(S, ..., N)``, ``S = M ≥ 2``.
        mask: optional boolean array broadcastable to ``y`` (True = use the point).
        axis: target axes averaged over (default ``-1``; ``None`` = all).

    Returns:
        ``(spread, skill)``, each a float or an array over the axes of ``y`` not in ``axis``; units of ``y``.
        To pool several tasks, average the squares weighted by the number of valid points and take the
        ratio of the square roots (never the mean of per-task ratios).
    """
    y, x, shape = _samples(y, samples)
    num = x.shape[0]
    if num < 2:
        raise ValueError(f"spread_skill needs at least 2 ensemble members for a variance, got S = {num}")
    valid = valid_mask(y, mask, shape)
    axes = normalise_axes(axis, len(shape))
    mean = np.mean(x, axis=0)  # (..., N)
    var = np.var(x, axis=0, ddof=1)  # (..., N), unbiased
    spread2 = (num + 1) / num * masked_mean(np.broadcast_to(var, shape), valid, axes)
    skill2 = masked_mean(np.broadcast_to((mean - y) ** 2, shape), valid, axes)
    return scalar_or_array(np.sqrt(spread2)), scalar_or_array(np.sqrt(skill2))


def spread_skill_ratio(y, samples, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """``spread / skill`` of :func:`spread_skill` (≈ 1 for a calibrated ensemble; inf when skill is 0)."""
    spread, skill = spread_skill(y, samples, mask=mask, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return scalar_or_array(np.asarray(spread) / np.asarray(skill))


def pooled_spread_skill_ratio(spread, skill, num_points=None) -> float:
    """Spread–skill ratio of several tasks pooled: ``sqrt(Σ_t w_t spread_t² / Σ_t w_t skill_t²)``.

    Args:
        spread, skill: per-task values of :func:`spread_skill`, ``(T,)`` each.
        num_points: per-task number of valid points ``(T,)`` as weights (then the result equals
            :func:`spread_skill_ratio` over all points of all tasks); None: equal weights.

    Returns:
        A float; NaN if any task's spread or skill is NaN.
    """
    spread2 = as_float_array(spread, "spread").ravel() ** 2
    skill2 = as_float_array(skill, "skill").ravel() ** 2
    w = np.ones_like(spread2) if num_points is None else as_float_array(num_points, "num_points").ravel()
    if not spread2.shape == skill2.shape == w.shape or spread2.size == 0:
        raise ValueError(
            f"spread, skill, num_points: expected one value per task each, got sizes {spread2.size}, "
            f"{skill2.size}, {w.size}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(w * spread2) / np.sum(w * skill2)))


def exceedance_probability(samples, threshold: float) -> np.ndarray:
    """Fraction of members above ``threshold`` (strictly): ``p = 1/S Σ_s 1{x_s > t}``, shape ``(...)``.

    NaN where any member is NaN (a broken member is not counted as "dry").
    """
    x = as_float_array(samples, "samples")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"samples: expected a leading sample axis (S, ...), got shape {x.shape}")
    p = np.mean(x > float(threshold), axis=0)
    return np.where(np.any(np.isnan(x), axis=0), np.nan, p)


def _thresholds(threshold) -> tuple[np.ndarray, bool]:
    t = np.asarray(threshold, dtype=np.float64)
    if t.ndim > 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError(
            f"threshold: expected a finite number or a 1-D sequence of them (e.g. (0.1, 1.0, 5.0) mm), "
            f"got {threshold!r}"
        )
    return np.atleast_1d(t), t.ndim == 1


def brier_score(y, prob, threshold: float | Sequence[float], *, mask=None, axis: Axis = -1):
    """Brier score of the event ``y > threshold`` for a forecast probability: ``1/N Σ_n (p_n − o_n)²``.

    Args:
        y: targets ``(..., N)``.
        prob: forecast probability of ``y > threshold``, in [0, 1], broadcastable to ``y``; with a
            sequence of ``T`` thresholds, ``(T, ...)`` (one probability field per threshold).
        threshold: event threshold (units of ``y``), or a 1-D sequence of them.
        mask: optional boolean array broadcastable to ``y`` (True = use the point).
        axis: target axes averaged over (default ``-1``; ``None`` = all).

    Returns:
        A float or an array over the axes of ``y`` not in ``axis``; with a threshold sequence, a leading
        axis ``(T, ...)``. Lower is better; 0 is perfect, 0.25 is "always 50 %".
    """
    y = as_float_array(y, "y")
    p = as_float_array(prob, "prob")
    thresholds, many = _thresholds(threshold)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(
            f"prob: expected probabilities in [0, 1], got values in [{np.nanmin(p)}, {np.nanmax(p)}]"
        )
    if many and (p.ndim == 0 or p.shape[0] != len(thresholds)):
        raise ValueError(
            f"prob: with {len(thresholds)} thresholds expected a leading threshold axis "
            f"({len(thresholds)}, ...), got shape {p.shape}"
        )
    probs = p if many else p[None]
    out = [_brier_one(y, probs[i], t, mask, axis) for i, t in enumerate(thresholds)]
    return scalar_or_array(np.stack(out)) if many else scalar_or_array(out[0])


def _brier_one(y, p, t, mask, axis, correction=None) -> np.ndarray:
    try:
        shape = np.broadcast_shapes(y.shape, p.shape)
    except ValueError as exc:
        raise ValueError(f"prob: shape {p.shape} does not broadcast with y of shape {y.shape}") from exc
    valid = valid_mask(y, mask, shape)
    axes = normalise_axes(axis, len(shape))
    score = (p - (y > t)) ** 2
    if correction is not None:
        score = score - correction
    return np.asarray(masked_mean(np.broadcast_to(score, shape), valid, axes))


def brier_score_ensemble(
    y, samples, threshold: float | Sequence[float], *, fair: bool = False, mask=None, axis: Axis = -1
):
    """Brier score of ``y > threshold`` with the probability estimated from the ensemble.

    ``p = 1/S Σ_s 1{x_s > t}`` (:func:`exceedance_probability`). ``fair=False``: the Brier score of ``p``,
    ``(p − o)²``. ``fair=True`` (Ferro 2014): ``(p − o)² − p(1 − p)/(S − 1)``, whose expectation is the
    Brier score of the probability the members are drawn from (the plain one is larger by
    ``q(1 − q)/S`` for members drawn with exceedance probability ``q``); needs ``S ≥ 2``; a single point
    can score below 0.

    Args:
        y: targets ``(..., N)``; samples: members ``(S, ..., N)``; threshold: a number or a 1-D sequence.
        fair: the ensemble-size-corrected (fair) estimator.
        mask, axis: as in :func:`brier_score`.

    Returns:
        As :func:`brier_score` (a leading threshold axis for a sequence).
    """
    y, x, shape = _samples(y, samples)
    thresholds, many = _thresholds(threshold)
    num = x.shape[0]
    if fair and num < 2:
        raise ValueError("brier_score_ensemble(fair=True) needs at least 2 samples; got 1 (use fair=False)")
    out = []
    for t in thresholds:
        p = exceedance_probability(x, t)
        out.append(_brier_one(y, p, t, mask, axis, correction=p * (1 - p) / (num - 1) if fair else None))
    return scalar_or_array(np.stack(out)) if many else scalar_or_array(out[0])


def twcrps_samples(y, samples, threshold: float, *, fair: bool = False, mask=None) -> np.ndarray:
    """Per-point threshold-weighted CRPS for the values above ``threshold`` (heavy rain), from samples.

    ``twCRPS(F, y) = ∫ (F(z) − 1{y ≤ z})² w(z) dz`` with ``w(z) = 1{z > t}``. With the chaining function
    ``v(z) = max(z, t)`` it is the CRPS of the transformed values (Allen et al. 2023),
    ``E|v(X) − v(y)| − ½ E|v(X) − v(X')|``, computed here as :func:`~climate_bnnp.metrics.scores.crps_samples`
    of ``max(samples, t)`` against ``max(y, t)`` (the same ``fair`` estimators; ``scoringrules``'
    ``twcrps_ensemble(..., v_func=lambda z: np.maximum(z, t))`` gives the same numbers). It is 0 when the
    truth and all members are ≤ t, so only forecasts or outcomes of heavy rain count. Units of ``y``.

    Args:
        y: targets ``(..., N)``; samples: ``(S, ..., N)``; threshold: ``t`` (units of ``y``, e.g. 5 mm).
        fair: the fair (unbiased) CRPS estimator (needs ``S ≥ 2``).
        mask: optional boolean array broadcastable to ``y`` (True = use the point).

    Returns:
        Array of the broadcast point shape; NaN where the target is NaN or masked out.
    """
    t, many = _thresholds(threshold)
    if many:
        raise ValueError(f"threshold: expected one number for twcrps_samples, got {threshold!r}")
    y, x, _ = _samples(y, samples)
    return crps_samples(np.maximum(y, t[0]), np.maximum(x, t[0]), fair=fair, mask=mask)


def mae_of_median(y, samples, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Mean absolute error of the predictive median ``median_s x_s`` (the point forecast that minimises the
    expected absolute error, unlike the mean, which is pulled up by a skewed rain distribution).

    Args:
        y: targets ``(..., N)``; samples: ``(S, ..., N)`` (for a method with quantiles, call
            :func:`~climate_bnnp.metrics.scores.mae` with its 0.5 quantile instead).
        mask, axis: as in :func:`~climate_bnnp.metrics.scores.mae`.
    """
    y, x, _ = _samples(y, samples)
    return mae(y, np.median(x, axis=0), mask=mask, axis=axis)
