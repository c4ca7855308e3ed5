"""From posterior draws of a likelihood's parameters to the posterior predictive in physical units (numpy).

Given S draws ``θ_s`` of an observation model's parameters at a point (model units, from one set of weight
draws per task; :class:`~climate_bnnp.likelihoods.predictive.PredictiveLikelihood`), the posterior
predictive of the model-units target ``z`` is the Monte-Carlo mixture ``p(z) = (1/S) Σ_s p(z | θ_s)``, and
the physical value is ``y = g⁻¹(m + d·z)`` with the normaliser's mean ``m`` and std ``d`` and ``g`` the
target transform (identity, or log1p for tp with ``tp_transform="log1p"``).

* ``mean`` and ``std`` are the exact moments of that mixture in physical units (the likelihood's
  ``mixture_moments``; observation noise included), of the clipped values where the target has a lower
  bound (below), so they describe the same distribution as the samples and quantiles.
* predictive samples: one observation per draw by inversion of that draw's CDF, ``y_s = g⁻¹(m + d
  F_s⁻¹(u_s))``. ``u_s`` is a deterministic function of (task seed, latitude, longitude, s)
  (:func:`uniform_at`), so a point's draws do not depend on the chunking or on which other points are
  predicted. (A Gaussian's ``F_s⁻¹(u) = f_s + σ Φ⁻¹(u)``: the noise draws of :func:`standard_normal_at`.)
  Quantiles are empirical quantiles (linear interpolation) of these draws.
* samples (on request) are the back-transformed per-draw means ``g⁻¹(m + d μ_s)`` (a Gaussian's function
  samples; spatially coherent fields), beside the predictive samples.
* :func:`to_physical` is the one place where draws leave model units: a target with a physical lower bound
  (the CF ``valid_min`` of :data:`climate_bnnp.data.VARIABLES`, 0 mm for tp) is clipped at it, so no
  precipitation sample or quantile is negative (a Gaussian on log1p reaches down to −1 mm before clipping).
  Clipping a sample towards the support never raises its CRPS against a truth inside the support.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri

from ..data import VARIABLES, Normaliser
from ..data.coords import wrap_longitude
from ..likelihoods.predictive import Params, PredictiveLikelihood

__all__ = [
    "cell_keys",
    "check_target_transform",
    "standard_normal_at",
    "summarise",
    "to_physical",
    "uniform_at",
]

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


def to_physical(normaliser: Normaliser, target: str, values: np.ndarray) -> np.ndarray:
    """Model units -> physical units, ``g⁻¹(m + d·z)``, clipped at the target's ``valid_min`` (tp: 0 mm).

    Args:
        normaliser: holds ``target``'s statistics and transform. target: its name. values: model units.
    """
    y = np.asarray(normaliser.inverse(target, values))
    lower = _valid_min(target)
    return y if lower is None else np.maximum(y, lower)


def _valid_min(target: str) -> float | None:
    """The target's physical lower bound (CF ``valid_min``: 0 mm for tp), or None."""
    known = VARIABLES.get(target)
    return None if known is None else known.valid_min


def _is_log1p(normaliser: Normaliser, target: str) -> bool:
    """Whether physical units are ``expm1`` of an affine function of model units (else affine)."""
    return target == "tp" and normaliser.tp_transform == "log1p"


def check_target_transform(likelihood: PredictiveLikelihood, normaliser: Normaliser, target: str) -> None:
    """Refuse a target normalisation the likelihood cannot express (e.g. Bernoulli–Gamma needs 0 -> 0).

    Raises:
        ValueError: from the likelihood's ``check_target_transform``.
    """
    likelihood.check_target_transform(
        target=target,
        mean=normaliser.mean.get(target),
        linear=not _is_log1p(normaliser, target),
        transform=normaliser.tp_transform,
    )


def summarise(
    likelihood: PredictiveLikelihood,
    params: Params,
    *,
    normaliser: Normaliser,
    target: str,
    keys: np.ndarray,
    quantiles: Sequence[float],
    return_samples: bool,
) -> dict[str, np.ndarray]:
    """Posterior predictive summaries in physical units (see the module docstring).

    Args:
        likelihood: the observation model. params: its parameters per draw, ``(S, N)`` (or broadcastable,
            e.g. a noise std ``()`` or ``(N,)``), model units.
        normaliser: the checkpoint's normaliser (holds ``target``). target: target variable name.
        keys: per-point keys ``(N,)`` from :func:`cell_keys` (fix the observation draws).
        quantiles: levels in (0, 1).
        return_samples: also return the per-draw means, the predictive samples and the likelihood's
            per-draw variables.

    Returns:
        ``mean (N,)``, ``std (N,)``, the likelihood's point summaries ``(N,)`` (e.g. ``prob_rain``),
        ``quantiles (Q, N)`` and, on request, ``samples (S, N)``, ``predictive_samples (S, N)`` and the
        likelihood's draw variables ``(S, N)`` (e.g. ``f_normalised``).
    """
    m, d = normaliser.mean[target], normaliser.std[target]
    mean, std = likelihood.mixture_moments(
        params, shift=m, scale=d, exp=_is_log1p(normaliser, target), lower=_valid_min(target)
    )
    num_samples = np.shape(likelihood.mean(params))[0]
    z = likelihood.ppf(uniform_at(keys, num_samples), params)  # (S, N), model units
    y = to_physical(normaliser, target, z)  # (S, N), physical units
    out = {"mean": mean, "std": std, **likelihood.point_summaries(params)}
    out["quantiles"] = np.quantile(y, np.asarray(quantiles), axis=0)
    if return_samples:
        out["samples"] = to_physical(normaliser, target, likelihood.mean(params))
        out["predictive_samples"] = y
        out |= likelihood.draw_variables(params)
    return out
