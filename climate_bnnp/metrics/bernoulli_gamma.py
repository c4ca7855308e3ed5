"""Density scores of a Monte-Carlo mixture of zero-inflated Bernoulli–Gamma distributions (numpy/scipy).

Per sample ``s`` (one posterior weight draw) and point, a rain probability ``π_s``, Gamma shape ``k_s`` and
scale ``θ_s`` define the mixed density (a probability at 0, a density above, as the likelihood's
``log_prob`` and the training objectives use it)::

    p_s(y) = 1 − π_s                  if y <= 0
    p_s(y) = π_s · Gamma(y; k_s, θ_s)  if y > 0,   Gamma(y; k, θ) = y^(k−1) e^(−y/θ) / (Γ(k) θ^k)

and the posterior predictive is ``p(y) = (1/S) Σ_s p_s(y)``. The functions mirror the Gaussian ones
of :mod:`.scores` (samples lead, NaN targets ignored, ``axis`` and ``mask`` as there):
:func:`ppd_bernoulli_gamma` is the paper's PPD (log of the mean density over samples **and** points),
:func:`nll_bernoulli_gamma` the mean negative per-point log predictive density. Use the model's units
for ``y`` (for tp with ``tp_transform="scale"``: tp / RMS, dry cells exactly 0).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, xlogy

from climate_bnnp.metrics._arrays import (
    Axis,
    as_float_array,
    check_samples,
    masked_logsumexp,
    masked_mean,
    normalise_axes,
    scalar_or_array,
    valid_mask,
)

__all__ = [
    "bernoulli_gamma_log_density",
    "log_predictive_density_bernoulli_gamma",
    "nll_bernoulli_gamma",
    "ppd_bernoulli_gamma",
]


def bernoulli_gamma_log_density(y, prob, shape, scale) -> np.ndarray:
    """``log p(y)`` of Bernoulli–Gamma(π, k, θ) elementwise (broadcasting): ``log(1 − π)`` where ``y <= 0``,
    ``log π + (k − 1) log y − y/θ − log Γ(k) − k log θ`` where ``y > 0``; NaN where ``y`` is NaN."""
    y = as_float_array(y, "y")
    prob, shape, scale = (
        as_float_array(a, n) for a, n in ((prob, "prob"), (shape, "shape"), (scale, "scale"))
    )
    wet = y > 0
    y_wet = np.where(wet, y, 1.0)  # keeps the log finite where dry (that branch is not used there)
    with np.errstate(divide="ignore"):
        log_wet = (
            np.log(prob) + xlogy(shape - 1.0, y_wet) - y_wet / scale - gammaln(shape) - shape * np.log(scale)
        )
        out = np.where(wet, log_wet, np.log1p(-prob))
    return np.where(np.isnan(y), np.nan, out)


def _prepare(y, prob, shape, scale, mask):
    y = as_float_array(y, "y")
    params = [as_float_array(a, n) for a, n in ((prob, "prob"), (shape, "shape"), (scale, "scale"))]
    point_shape = check_samples(y, params[0], "prob")
    for a, n in zip(params[1:], ("shape", "scale"), strict=True):
        if a.shape != params[0].shape:
            raise ValueError(f"{n}: expected the shape of prob {params[0].shape}, got {a.shape}.")
    bad = (params[0] < 0) | (params[0] > 1) | (params[1] <= 0) | (params[2] <= 0)  # NaN: not bad, propagates
    if np.any(bad):
        raise ValueError(
            f"Bernoulli–Gamma parameters need 0 <= prob <= 1, shape > 0 and scale > 0; {int(bad.sum())} "
            "entries are outside (pass bg_prob, bg_shape, bg_scale as climate_bnnp.predict returns them)."
        )
    valid = valid_mask(y, mask, point_shape)
    logp = bernoulli_gamma_log_density(y, *params)  # (S, ..., N)
    return logp, valid, params[0].shape[0], point_shape


def _lpd_and_valid(y, prob, shape, scale, mask) -> tuple[np.ndarray, np.ndarray]:
    logp, valid, num_samples, _ = _prepare(y, prob, shape, scale, mask)
    lpd = masked_logsumexp(logp, np.broadcast_to(valid, logp.shape), axes=(0,)) - math.log(num_samples)
    return lpd, valid


def log_predictive_density_bernoulli_gamma(y, prob, shape, scale, *, mask=None) -> np.ndarray:
    """Per-point ``log (1/S) Σ_s p_s(y_n)``.

    Args:
        y: targets ``(..., N)`` (model units). prob, shape, scale: ``π, k, θ`` per sample ``(S, ..., N)``.
        mask: optional boolean array broadcastable to ``y`` (True = use the point).

    Returns:
        The broadcast point shape; NaN where the target is NaN or masked out.
    """
    lpd, valid = _lpd_and_valid(y, prob, shape, scale, mask)
    return np.where(valid, lpd, np.nan)


def ppd_bernoulli_gamma(y, prob, shape, scale, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """The paper's PPD of the mixture: ``log( 1/(S N) Σ_s Σ_n p_s(y_n) )`` over the valid targets along
    ``axis`` (default ``-1``; ``None`` = all). Arguments as in :func:`log_predictive_density_bernoulli_gamma`.
    Higher is better."""
    logp, valid, num_samples, point_shape = _prepare(y, prob, shape, scale, mask)
    axes = normalise_axes(axis, len(point_shape))
    lse = masked_logsumexp(logp, np.broadcast_to(valid, logp.shape), axes=(0, *(a + 1 for a in axes)))
    count = np.sum(valid, axis=axes)
    with np.errstate(divide="ignore"):
        out = np.where(count > 0, lse - np.log(num_samples * np.maximum(count, 1)), np.nan)
    return scalar_or_array(out)


def nll_bernoulli_gamma(y, prob, shape, scale, *, mask=None, axis: Axis = -1) -> float | np.ndarray:
    """Mean over the valid targets along ``axis`` of ``−log (1/S) Σ_s p_s(y_n)``. Lower is better."""
    lpd, valid = _lpd_and_valid(y, prob, shape, scale, mask)
    axes = normalise_axes(axis, lpd.ndim)
    return scalar_or_array(-masked_mean(lpd, valid, axes))
