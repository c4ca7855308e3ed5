"""Density scores of a Monte-Carlo mixture of any registered likelihood (numpy/scipy, no torch).

Per sample ``s`` (one posterior weight draw) and point, a likelihood's parameters ``θ_s`` give a density
``p_s(y) = p(y | θ_s)`` (a probability at a point mass, e.g. the dry atom of a Bernoulli–Gamma, as the
training objectives use it), and the posterior predictive is ``p(y) = (1/S) Σ_s p_s(y)``. The log densities
come from the likelihood's predictive side (:mod:`climate_bnnp.likelihoods.predictive`). The functions mirror
the Gaussian ones of :mod:`.scores` (samples lead, NaN targets ignored, ``axis`` and ``mask`` as there):
:func:`ppd_mixture` is the paper's PPD (log of the mean density over samples **and** points),
:func:`nll_mixture` the mean negative per-point log predictive density. Use the model's units for ``y``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from climate_bnnp.likelihoods.predictive import PredictiveLikelihood, get_likelihood
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

__all__ = ["log_predictive_density_mixture", "nll_mixture", "ppd_mixture"]


def _prepare(y, likelihood, params: Mapping[str, Any], mask):
    likelihood = get_likelihood(likelihood) if isinstance(likelihood, str) else likelihood
    y = as_float_array(y, "y")
    params = {n: as_float_array(v, n) for n, v in params.items()}
    lead = likelihood.per_draw[0]
    if lead not in params:
        raise ValueError(
            f"the {likelihood.name!r} density needs the parameters {list(likelihood.parameters)}; got "
            f"{sorted(params)}."
        )
    point_shape = check_samples(y, params[lead], lead)
    full = (params[lead].shape[0], *point_shape)  # (S, ..., N)
    for name, value in params.items():
        try:
            np.broadcast_shapes(value.shape, full)
        except ValueError:
            raise ValueError(
                f"{name}: expected a shape that broadcasts to the samples' {full} (like {lead}), got "
                f"{value.shape}."
            ) from None
    likelihood.check_params(params)
    valid = valid_mask(y, mask, point_shape)
    logp = np.broadcast_to(likelihood.log_density(y, params), full)  # (S, ..., N)
    return logp, valid, full[0], point_shape


def _lpd_and_valid(y, likelihood, params, mask) -> tuple[np.ndarray, np.ndarray]:
    logp, valid, num_samples, _ = _prepare(y, likelihood, params, mask)
    lpd = masked_logsumexp(logp, np.broadcast_to(valid, logp.shape), axes=(0,)) - math.log(num_samples)
    return lpd, valid


def log_predictive_density_mixture(
    y, likelihood: PredictiveLikelihood | str, params: Mapping[str, Any], *, mask=None
) -> np.ndarray:
    """Per-point ``log (1/S) Σ_s p(y_n | θ_sn)``.

    Args:
        y: targets ``(..., N)`` (model units).
        likelihood: the observation model (or its registered name).
        params: its parameters per sample ``(S, ..., N)`` (those not stored per draw, e.g. a Gaussian's
            noise std, may be anything that broadcasts: a scalar, ``(..., N)``).
        mask: optional boolean array broadcastable to ``y`` (True = use the point).

    Returns:
        The broadcast point shape; NaN where the target is NaN or masked out.

    Raises:
        ValueError: parameters missing, of the wrong shape, or outside the likelihood's range.
    """
    lpd, valid = _lpd_and_valid(y, likelihood, params, mask)
    return np.where(valid, lpd, np.nan)


def ppd_mixture(
    y, likelihood: PredictiveLikelihood | str, params: Mapping[str, Any], *, mask=None, axis: Axis = -1
) -> float | np.ndarray:
    """The paper's PPD of the mixture: ``log( 1/(S N) Σ_s Σ_n p(y_n | θ_sn) )`` over the valid targets along
    ``axis`` (default ``-1``; ``None`` = all). Arguments as in :func:`log_predictive_density_mixture`.
    Higher is better."""
    logp, valid, num_samples, point_shape = _prepare(y, likelihood, params, mask)
    axes = normalise_axes(axis, len(point_shape))
    lse = masked_logsumexp(logp, np.broadcast_to(valid, logp.shape), axes=(0, *(a + 1 for a in axes)))
    count = np.sum(valid, axis=axes)
    with np.errstate(divide="ignore"):
        out = np.where(count > 0, lse - np.log(num_samples * np.maximum(count, 1)), np.nan)
    return scalar_or_array(out)


def nll_mixture(
    y, likelihood: PredictiveLikelihood | str, params: Mapping[str, Any], *, mask=None, axis: Axis = -1
) -> float | np.ndarray:
    """Mean over the valid targets along ``axis`` of ``−log (1/S) Σ_s p(y_n | θ_sn)``. Lower is better."""
    lpd, valid = _lpd_and_valid(y, likelihood, params, mask)
    axes = normalise_axes(axis, lpd.ndim)
    return scalar_or_array(-masked_mean(lpd, valid, axes))
