"""Evaluation metrics on numpy arrays: one implementation, wrapped for xarray in :mod:`.xr`.

Conventions (all functions):

* Targets ``y`` have shape ``(..., N)`` (any shape); samples lead: ``f_samples``/``samples`` have shape
  ``(S, ..., N)``, i.e. ``(S, *y.shape)`` up to broadcasting. Point estimates (``mean``) have ``y``'s shape.
* **NaN targets are ignored**: a point whose target is NaN (or whose optional boolean ``mask`` is False)
  takes no part in any score. Per-point scores are NaN there. A reduction with no valid point gives NaN.
  NaN in the *predictions* at a valid point is not ignored: it propagates, so a broken model cannot hide.
* Reductions run over the target axes given by ``axis`` (axes of ``y``; default ``-1``, the point axis;
  ``None`` = all axes of ``y``). The remaining leading axes are kept, e.g. one value per task for
  ``y (B, N)``, ``f (S, B, N)``. A 0-d result is returned as a Python ``float``.
* ``sigma`` is the Gaussian observation-noise standard deviation, a scalar or an array broadcastable to
  the samples; use the same units as ``y`` (the paper reports PPD in normalised units).

No torch here: callers pass ``tensor.detach().cpu().numpy()``.
"""

from __future__ import annotations

import math

import numpy as np

from climate_bnnp.metrics._arrays import (
    Axis,
    as_float_array,
    check_samples,
    check_sigma,
    masked_logsumexp,
    masked_mean,
    normalise_axes,
    scalar_or_array,
    valid_mask,
)

__all__ = [
    "coverage",
    "crps_samples",
    "in_interval",
    "log_predictive_density",
    "mae",
    "mean_log_predictive_density",
    "nll",
    "ppd",
    "rmse",
    "summarise",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _normal_logpdf(y: np.ndarray, f: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``log N(y; f, sigma²)`` elementwise (broadcasting)."""
    z = (y - f) / sigma
    return -0.5 * (z * z + _LOG_2PI) - np.log(sigma)


def _prepare(y, f_samples, sigma, mask):
    y = as_float_array(y, "y")
    f = as_float_array(f_samples, "f_samples")
    shape = check_samples(y, f, "f_samples")
    sig = check_sigma(sigma, (f.shape[0], *shape))
    valid = valid_mask(y, mask, shape)  # (...,N) broadcast point shape
    return y, f, sig, valid, shape


def log_predictive_density(y, f_samples, sigma, *, mask=None) -> np.ndarray:
    """Per-point log predictive density ``log (1/S) Σ_s N(y_n; f_sn, σ²)``.

    Args:
        y: targets ``(..., N)``.
        f_samples: function samples ``(S, ..., N)`` (noise-free; the Gaussian noise ``sigma`` is added here).
        sigma: observation-noise standard deviation (> 0), scalar or broadcastable to ``f_samples``.
        mask: optional boolean array broadcastable to ``y`` (True = use the point).

    Returns:
        Array of the broadcast point shape; NaN where the target is NaN or masked out.
    """
    lpd, valid = _lpd_and_valid(y, f_samples, sigma, mask)
    return np.where(valid, lpd, np.nan)


def _lpd_and_valid(y, f_samples, sigma, mask) -> tuple[np.ndarray, np.ndarray]:
    """Per-point log predictive density (garbage where invalid) and the target-validity mask."""
    y, f, sig, valid, shape = _prepare(y, f_samples, sigma, mask)
    logp = _normal_logpdf(y, f, sig)  # (S, ..., N)
    lpd = masked_logsumexp(logp, np.broadcast_to(valid, logp.shape), axes=(0,)) - math.log(f.shape[0])
    return lpd, valid


def ppd(y, f_samples, sigma, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """The paper's PPD: the log of the mean density over samples **and** points (docs/method.md, "Scores").

    ``PPD = log( 1/(S N) Σ_s Σ_n N(y_n; f_sn, σ²) )``, with ``N`` the number of valid (non-NaN,
    unmasked) targets along ``axis``. Computed with a log-sum-exp over samples and points. By Jensen's
    inequality it is ≥ :func:`mean_log_predictive_density`, with equality only when every point has the
    same predictive density. Higher is better.

    Args:
        y: targets ``(..., N)``.
        f_samples: function samples ``(S, ..., N)``.
        sigma: observation-noise standard deviation (> 0), scalar or broadcastable to ``f_samples``.
        mask: optional boolean array broadcastable to ``y`` (True = use the point).
        axis: target axes averaged over (default ``-1``; ``None`` = all).

    Returns:
        A float, or an array over the axes of ``y`` not in ``axis`` (e.g. one value per task).
    """
    y, f, sig, valid, shape = _prepare(y, f_samples, sigma, mask)
    axes = normalise_axes(axis, len(shape))
    logp = _normal_logpdf(y, f, sig)  # (S, ..., N)
    lse = masked_logsumexp(logp, np.broadcast_to(valid, logp.shape), axes=(0, *(a + 1 for a in axes)))
    count = np.sum(valid, axis=axes)
    with np.errstate(divide="ignore"):
        out = np.where(count > 0, lse - np.log(f.shape[0] * np.maximum(count, 1)), np.nan)
    return scalar_or_array(out)


def mean_log_predictive_density(y, f_samples, sigma, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Mean over points of the per-point log predictive density (see :func:`log_predictive_density`).

    ``MLPD = 1/N Σ_n log( 1/S Σ_s N(y_n; f_sn, σ²) )``. Arguments as in :func:`ppd`. Higher is better.
    """
    lpd, valid = _lpd_and_valid(y, f_samples, sigma, mask)
    axes = normalise_axes(axis, lpd.ndim)
    return scalar_or_array(masked_mean(lpd, valid, axes))


def nll(y, f_samples, sigma, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Negative log-likelihood per point: ``-mean_log_predictive_density(...)``. Lower is better."""
    mlpd = mean_log_predictive_density(y, f_samples, sigma, mask=mask, axis=axis)
    return scalar_or_array(-np.asarray(mlpd))


def _point_estimate(y, mean, mask):
    y = as_float_array(y, "y")
    m = as_float_array(mean, "mean")
    try:
        shape = np.broadcast_shapes(y.shape, m.shape)
    except ValueError as exc:
        raise ValueError(
            f"mean: shape {m.shape} does not broadcast with y of shape {y.shape}. Pass the predictive "
            "mean (e.g. samples.mean(axis=0)), not the samples."
        ) from exc
    return y, m, valid_mask(y, mask, shape)


def mae(y, mean, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Mean absolute error ``1/N Σ_n |mean_n − y_n|`` of a point prediction (the predictive mean).

    See docs/method.md, "Scores".

    Args:
        y: targets ``(..., N)``.
        mean: point predictions, broadcastable to ``y`` (e.g. ``f_samples.mean(axis=0)``).
        mask: optional boolean array broadcastable to ``y`` (True = use the point).
        axis: target axes averaged over (default ``-1``; ``None`` = all).
    """
    y, m, valid = _point_estimate(y, mean, mask)
    axes = normalise_axes(axis, valid.ndim)
    return scalar_or_array(masked_mean(np.abs(m - y), valid, axes))


def rmse(y, mean, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Root mean squared error ``sqrt(1/N Σ_n (mean_n − y_n)²)``. Arguments as in :func:`mae`."""
    y, m, valid = _point_estimate(y, mean, mask)
    axes = normalise_axes(axis, valid.ndim)
    return scalar_or_array(np.sqrt(masked_mean((m - y) ** 2, valid, axes)))


def crps_samples(y, samples, *, fair: bool = False, mask=None) -> np.ndarray:
    """Per-point continuous ranked probability score from samples, ``E|X − y| − ½ E|X − X'|``.

    Estimators (``x_(1) ≤ … ≤ x_(S)`` the sorted samples of one point):

    * ``fair=False`` (default, the standard/"empirical-CDF" estimator): the CRPS of the empirical
      distribution of the samples, ``1/S Σ_i |x_i − y| − 1/(2S²) Σ_ij |x_i − x_j|``. With ``S = 1`` it
      equals the absolute error.
    * ``fair=True`` (unbiased for the CRPS of the distribution the samples come from):
      the second term uses ``1/(2S(S−1))``; needs ``S ≥ 2``.

    The pair sum uses the sorted identity ``Σ_ij |x_i − x_j| = 2 Σ_i (2i − S − 1) x_(i)`` (i = 1..S), so
    the cost is O(S log S) per point and memory O(S·N), never O(S²). Lower is better; units of ``y``.

    Args:
        y: targets ``(..., N)``.
        samples: predictive samples ``(S, ..., N)`` (observation noise included if you want the CRPS of
            the observations).
        fair: use the fair (unbiased) estimator.
        mask: optional boolean array broadcastable to ``y`` (True = use the point).

    Returns:
        Array of the broadcast point shape; NaN where the target is NaN or masked out.
    """
    y = as_float_array(y, "y")
    x = as_float_array(samples, "samples")
    shape = check_samples(y, x, "samples")
    valid = valid_mask(y, mask, shape)
    num = x.shape[0]
    if fair and num < 2:
        raise ValueError("crps_samples(fair=True) needs at least 2 samples; got 1 (use fair=False)")
    abs_err = np.mean(np.abs(x - y), axis=0)  # (...,N)
    xs = np.sort(x, axis=0)  # (S, ...) sorted along the sample axis; NaN sorts last and propagates
    weights = (2.0 * np.arange(1, num + 1) - num - 1).reshape((num,) + (1,) * (x.ndim - 1))  # (S, 1, ..)
    pair_sum_half = np.sum(weights * xs, axis=0)  # = ½ Σ_ij |x_i − x_j|
    denom = num * (num - 1) if fair else num * num
    crps = abs_err - pair_sum_half / denom
    return np.where(valid, np.broadcast_to(crps, shape), np.nan)


def in_interval(y, samples, level: float = 0.9, *, mask=None) -> np.ndarray:
    """Per point: 1.0 if ``y`` lies in the central ``level`` interval of the samples, else 0.0.

    The interval is ``[q_{(1−level)/2}, q_{(1+level)/2}]`` from the sample quantiles (numpy's default
    linear interpolation), both ends included. NaN where the target is NaN or masked out.
    """
    y = as_float_array(y, "y")
    x = as_float_array(samples, "samples")
    shape = check_samples(y, x, "samples")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level: expected a central-interval probability in (0, 1), got {level}")
    valid = valid_mask(y, mask, shape)
    lo, hi = np.quantile(x, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=0)  # each (...,N)
    inside = ((y >= lo) & (y <= hi)).astype(np.float64)
    nan_pred = np.isnan(lo) | np.isnan(hi)
    inside = np.where(nan_pred, np.nan, inside)
    return np.where(valid, np.broadcast_to(inside, shape), np.nan)


def coverage(y, samples, level: float = 0.9, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Fraction of valid targets inside the central ``level`` sample interval (see :func:`in_interval`).

    Both interval ends count as inside, so this estimator is biased: for a calibrated continuous predictive
    the sample-quantile interval of ``S`` samples covers on average about ``level·(S−1)/(S+1)`` (0.85 for
    ``S = 32``, ``level = 0.9``), while a truth tied with the interval end — a dry cell when ≥ ``(1−level)/2``
    of the draws are exactly 0 — is always "covered". For a score whose calibrated value is ``level`` for
    every ``S``, with ties, use :func:`climate_bnnp.metrics.calibration.central_coverage`.
    """
    inside = in_interval(y, samples, level, mask=mask)
    valid = valid_mask(as_float_array(y, "y"), mask, inside.shape)
    axes = normalise_axes(axis, inside.ndim)
    return scalar_or_array(masked_mean(inside, valid, axes))


def summarise(values) -> tuple[float, float]:
    """Mean and standard error over tasks (or seeds): ``(mean, std(ddof=1) / sqrt(n))``.

    NaN values propagate (a failed task must not vanish from the table). With one value the standard
    error is NaN.
    """
    v = as_float_array(values, "values").ravel()
    if v.size == 0:
        raise ValueError("summarise: got no values; pass one score per task")
    mean = float(np.mean(v))
    if v.size < 2:
        return mean, float("nan")
    return mean, float(np.std(v, ddof=1) / math.sqrt(v.size))
