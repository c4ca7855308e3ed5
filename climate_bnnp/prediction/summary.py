"""From function samples to the posterior predictive in physical units (numpy only), for Gaussian models
(Bernoulli–Gamma models: :mod:`.bernoulli_gamma`, which shares the keyed draws :func:`uniform_at`).

Given S function samples ``f_s`` at a point (normalised units, from one set of weight draws per task) and
the likelihood noise σ (normalised units), the posterior predictive of the normalised target ``z`` is the
Monte-Carlo mixture ``p(z) = (1/S) Σ_s N(z; f_s, σ²)``, and the physical value is
``y = g⁻¹(m + d·z)`` with the normaliser's mean ``m`` and std ``d`` and ``g`` the target transform
(identity, or log1p for tp with ``tp_transform="log1p"``).

* ``mean`` and ``std`` are the exact moments of that mixture in physical units (observation noise
  included): for the identity, ``E[y] = m + d·mean_s f_s`` and ``Var[y] = d²(var_s f_s + σ²)``
  (population variance over the S samples); for log1p, with ``g = m + d z ~ N(m + d f_s, d²σ²)`` per
  component, ``E[e^g] = mean_s exp(m + d f_s + d²σ²/2)`` and ``E[e^{2g}] = mean_s exp(2m + 2d f_s + 2d²σ²)``,
  so ``E[y] = E[e^g] − 1`` and ``Var[y] = E[e^{2g}] − E[e^g]²``.
* quantiles are empirical quantiles (linear interpolation) of the S predictive samples
  ``y_s = g⁻¹(m + d(f_s + σ ε_s))`` in physical units. The noise ``ε_s`` is a deterministic function of
  (task seed, latitude, longitude, s) (:func:`standard_normal_at`), so a point's quantiles do not depend on
  the chunking or on which other points are predicted.
* samples (on request) are the back-transformed *function* samples ``g⁻¹(m + d f_s)`` (no noise: spatially
  coherent fields), and the predictive samples ``y_s`` above (the draws the quantiles come from).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri

from ..data import Normaliser
from ..data.coords import wrap_longitude

__all__ = ["cell_keys", "standard_normal_at", "summarise", "uniform_at"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_COORD_RESOLUTION = 1e6  # coordinates are keyed to 1e-6 degree


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def cell_keys(seed: int, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """A uint64 key per point from a task seed and its coordinates (rounded to 1e-6 degree).

    Longitudes are wrapped into [-180, 180) first, so 0–360 and −180–180 inputs give the same keys.
    """
    with np.errstate(over="ignore"):
        ilat = np.round((np.asarray(lat, np.float64) + 90.0) * _COORD_RESOLUTION).astype(np.int64)
        ilon = np.round((wrap_longitude(lon) + 180.0) * _COORD_RESOLUTION).astype(np.int64)
        key = _splitmix(np.full(ilat.shape, np.uint64(seed & (2**64 - 1)), dtype=np.uint64))
        key = _splitmix(key ^ ilat.astype(np.uint64))
        return _splitmix(key ^ ilon.astype(np.uint64))


def uniform_at(keys: np.ndarray, num_samples: int) -> np.ndarray:
    """Uniform draws in (0, 1) ``(S, N)``, a deterministic function of each point's key and sample index."""
    s = np.arange(1, num_samples + 1, dtype=np.uint64)[:, None] * _MIX2  # (S, 1)
    with np.errstate(over="ignore"):
        bits = _splitmix(keys[None, :] ^ s)  # (S, N)
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # uniform in (0, 1)


def standard_normal_at(keys: np.ndarray, num_samples: int) -> np.ndarray:
    """Standard normal draws ``(S, N)``, a deterministic function of each point's key and the sample index
    (``Φ⁻¹`` of :func:`uniform_at`)."""
    return ndtri(uniform_at(keys, num_samples))


def _moments(
    f: np.ndarray, sigma: float, normaliser: Normaliser, target: str
) -> tuple[np.ndarray, np.ndarray]:
    m, d = normaliser.mean[target], normaliser.std[target]
    if target == "tp" and normaliser.tp_transform == "log1p":
        loc = m + d * f  # (S, N): mean of g per component
        half_var = 0.5 * (d * sigma) ** 2
        first = np.exp(loc + half_var).mean(axis=0)  # E[e^g]
        second = np.exp(2.0 * loc + 4.0 * half_var).mean(axis=0)  # E[e^{2g}]
        return first - 1.0, np.sqrt(np.maximum(second - first**2, 0.0))
    mean = m + d * f.mean(axis=0)
    var = d**2 * (f.var(axis=0) + sigma**2)
    return mean, np.sqrt(var)


def summarise(
    f: np.ndarray,
    *,
    sigma: float,
    normaliser: Normaliser,
    target: str,
    keys: np.ndarray,
    quantiles: Sequence[float],
    return_samples: bool,
) -> dict[str, np.ndarray]:
    """Posterior predictive summaries in physical units.

    Args:
        f: function samples ``(S, N)`` in normalised units.
        sigma: likelihood noise std in normalised units.
        normaliser: the checkpoint's normaliser (holds ``target``).
        target: target variable name (e.g. ``"tp"``).
        keys: per-point keys ``(N,)`` from :func:`cell_keys` (fix the observation-noise draws).
        quantiles: levels in (0, 1).
        return_samples: also return the function and predictive samples.

    Returns:
        ``mean (N,)``, ``std (N,)``, ``quantiles (Q, N)`` and, on request, ``samples (S, N)`` and
        ``predictive_samples (S, N)``.
    """
    mean, std = _moments(f, sigma, normaliser, target)
    eps = standard_normal_at(keys, f.shape[0])  # (S, N)
    y = np.asarray(normaliser.inverse(target, f + sigma * eps))  # (S, N), physical units
    out = {"mean": mean, "std": std, "quantiles": np.quantile(y, np.asarray(quantiles), axis=0)}
    if return_samples:
        out["samples"] = np.asarray(normaliser.inverse(target, f))
        out["predictive_samples"] = y
    return out
