"""Inverse-distance weighting (Shepard interpolation) on one task's context.

Mean at ``x*``: ``μ* = Σ_i w_i y_i / Σ_i w_i`` with ``w_i = ‖x* − x_i‖^(−p)`` (Euclidean distance over all
columns of ``x``). Where ``x*`` coincides with context points (distance ``<= COINCIDENT_DISTANCE``), ``μ*``
is the mean of their ``y``: IDW interpolates the context exactly.

IDW has no noise model, so its predictive spread is estimated from the context by leave-one-out: each
context point is predicted by IDW from the other ``Nc − 1`` points and the predictive is Gaussian,
``N(μ*, r²)``, with ``r`` the root-mean-square of these leave-one-out errors, the same at every target
(floored at ``min_std``; with ``Nc = 1`` there is nothing to leave out and ``r = min_std``).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from ._common import MIN_STD, check_inputs, gaussian_samples

__all__ = ["COINCIDENT_DISTANCE", "idw", "idw_mean", "idw_moments"]

COINCIDENT_DISTANCE = 1e-12  # in the units of x: closer points count as the same location
DEFAULT_CHUNK = 1024  # query points per block (the distance block is chunk × Nc)


def _check_power(power: float) -> float:
    if not power > 0:
        raise ValueError(f"power must be positive (2 is the usual choice), got {power!r}.")
    return float(power)


def _weighted_mean(
    xq: np.ndarray, xc: np.ndarray, yc: np.ndarray, power: float, chunk_size: int, leave_one_out: bool
) -> np.ndarray:
    """IDW mean at ``xq (Nq, D)``; with ``leave_one_out`` (``xq is xc``) point i ignores context point i."""
    out = np.empty(len(xq))
    for start in range(0, len(xq), chunk_size):
        dist = cdist(xq[start : start + chunk_size], xc)  # (n, Nc)
        rows = np.arange(dist.shape[0])
        if leave_one_out:
            dist[rows, start + rows] = np.inf
        hit = dist <= COINCIDENT_DISTANCE  # (n, Nc)
        nearest = dist.min(axis=1, keepdims=True)  # (n, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = (nearest / dist) ** power  # in [0, 1]: the same ratios as d^-p, without overflow
        weights = np.where(hit.any(axis=1, keepdims=True), hit, weights)  # (n, Nc)
        out[start : start + chunk_size] = (weights @ yc) / weights.sum(axis=1)
    return out


def idw_mean(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, *, power: float = 2.0, chunk_size: int = DEFAULT_CHUNK
) -> np.ndarray:
    """IDW mean ``(Nt,)`` at ``xt (Nt, D)`` from the context ``xc (Nc, D)``, ``yc (Nc,)``."""
    xc, yc, xt = check_inputs(xc, yc, xt)
    return _weighted_mean(xt, xc, yc, _check_power(power), chunk_size, leave_one_out=False)


def idw_moments(
    xc: np.ndarray,
    yc: np.ndarray,
    xt: np.ndarray,
    *,
    power: float = 2.0,
    chunk_size: int = DEFAULT_CHUNK,
    min_std: float = MIN_STD,
) -> tuple[np.ndarray, np.ndarray]:
    """IDW mean ``(Nt,)`` and the leave-one-out RMS error as std ``(Nt,)`` (see the module docstring)."""
    xc, yc, xt = check_inputs(xc, yc, xt)
    power = _check_power(power)
    mean = _weighted_mean(xt, xc, yc, power, chunk_size, leave_one_out=False)
    rms = 0.0
    if len(xc) > 1:
        loo = _weighted_mean(xc, xc, yc, power, chunk_size, leave_one_out=True)  # (Nc,)
        rms = float(np.sqrt(np.mean((loo - yc) ** 2)))
    return mean, np.full(len(xt), max(rms, float(min_std)))


def idw(
    xc: np.ndarray,
    yc: np.ndarray,
    xt: np.ndarray,
    *,
    num_samples: int,
    seed: int = 0,
    power: float = 2.0,
    **options,
) -> np.ndarray:
    """Observation samples ``(S, Nt)`` from ``N(IDW mean, LOO RMS²)`` (``np.random.default_rng(seed)``).

    ``options``: ``chunk_size``, ``min_std`` of :func:`idw_moments`.
    """
    mean, std = idw_moments(xc, yc, xt, power=power, **options)
    return gaussian_samples(mean, std, num_samples=num_samples, seed=seed)
