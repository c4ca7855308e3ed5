"""The Gaussian observation model ``y ~ N(loc, scale²)``: its predictive side (numpy/scipy, no torch).

Parameters: ``loc`` (a BNNP's function sample ``f_s``, model units) and ``scale`` (σ_y, the noise std, > 0).
A prediction stores ``loc`` per draw as ``f_normalised`` and ``scale`` as ``noise_std_normalised`` (an
attribute for a model's single σ_y, a variable for a per-point std such as a baseline's).

Mixture moments of ``v = g⁻¹(m + d·y)``: for the identity ``E[v] = m + d·mean_s f_s`` and
``Var[v] = d²(var_s f_s + σ²)``; for ``g⁻¹ = expm1`` (a log1p target), with ``m + d y ~ N(m + d f_s, d²σ²)``
per draw, ``E[e^g] = mean_s exp(m + d f_s + d²σ²/2)`` and ``E[e^{2g}] = mean_s exp(2m + 2d f_s + 2d²σ²)``,
so ``E[v] = E[e^g] − 1`` and ``Var[v] = E[e^{2g}] − E[e^g]²``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import ndtr, ndtri

from .base import Params, PredictiveLikelihood

__all__ = ["Gaussian"]

_LOG_2PI = math.log(2.0 * math.pi)


def _clipped_moments(a: np.ndarray, b: np.ndarray, exp: bool, lower: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the mixture over draws (axis 0) of ``Y = max(L, h(G))``, ``G ~ N(a, b²)``, with
    ``h = expm1`` (``exp``) or the identity. With ``t = h⁻¹(L)``, ``α = (t − a)/b``:
    ``E[Y^k] = L^k Φ(α) + E[h(G)^k 1{G > t}]``, where ``E[G 1{G>t}] = a Φ(−α) + b φ(α)``,
    ``E[G² 1{G>t}] = (a² + b²) Φ(−α) + b (a + t) φ(α)`` and
    ``E[e^{kG} 1{G>t}] = e^{ka + k²b²/2} Φ(kb − α)``."""
    t = math.log1p(lower) if exp else lower
    alpha = (t - a) / b
    below, above = ndtr(alpha), ndtr(-alpha)
    if exp:
        e1 = np.exp(a + 0.5 * b**2) * ndtr(b - alpha)  # E[e^G 1{G>t}]
        e2 = np.exp(2.0 * a + 2.0 * b**2) * ndtr(2.0 * b - alpha)  # E[e^{2G} 1{G>t}]
        first, second = e1 - above, e2 - 2.0 * e1 + above
    else:
        density = np.exp(-0.5 * alpha**2) / math.sqrt(2.0 * math.pi)
        first = a * above + b * density
        second = (a**2 + b**2) * above + b * (a + t) * density
    mean = (lower * below + first).mean(axis=0)
    second_moment = (lower**2 * below + second).mean(axis=0)
    return mean, np.sqrt(np.maximum(second_moment - mean**2, 0.0))


class Gaussian(PredictiveLikelihood):
    """``N(loc, scale²)``; see the module docstring."""

    name = "gaussian"
    parameters = ("loc", "scale")
    variables = {"loc": "f_normalised", "scale": "noise_std_normalised"}
    per_draw = ("loc",)  # the noise std is stored once (an attribute, or a variable per point)
    training = "climate_bnnp.likelihoods.gaussian:GaussianLikelihood"
    quantile_method = (
        "empirical quantiles (linear interpolation) of the S posterior predictive samples y_s = "
        "g^-1(m + d (f_s + sigma eps_s)) in physical units, one observation-noise draw eps_s per function "
        "sample, eps_s a deterministic function of (seed, task, latitude, longitude, s)"
    )

    def check_params(self, params: Params) -> None:
        """Refuse ``scale <= 0`` (NaN passes)."""
        bad = int(np.sum(np.asarray(params["scale"]) <= 0))
        if bad:
            raise ValueError(
                f"a Gaussian needs scale (the noise std) > 0; {bad} entries are <= 0 (pass the model's "
                "noise_std_normalised, or a baseline's per-point std)."
            )

    def log_density(self, y: np.ndarray, params: Params) -> np.ndarray:
        """``−((y − loc)/scale)²/2 − log scale − log(2π)/2``."""
        scale = np.asarray(params["scale"], np.float64)
        z = (np.asarray(y, np.float64) - params["loc"]) / scale
        return -0.5 * (z * z + _LOG_2PI) - np.log(scale)

    def cdf(self, y: np.ndarray, params: Params) -> np.ndarray:
        return ndtr((np.asarray(y, np.float64) - params["loc"]) / params["scale"])

    def ppf(self, u: np.ndarray, params: Params) -> np.ndarray:
        """``loc + scale · Φ⁻¹(u)``."""
        return params["loc"] + params["scale"] * ndtri(u)

    def mean(self, params: Params) -> np.ndarray:
        return np.asarray(params["loc"], np.float64)

    def variance(self, params: Params) -> np.ndarray:
        return np.broadcast_to(np.asarray(params["scale"], np.float64) ** 2, np.shape(params["loc"]))

    def mixture_moments(
        self,
        params: Params,
        *,
        shift: float,
        scale: float,
        exp: bool = False,
        lower: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact moments of the Gaussian mixture in physical units (the module docstring's closed forms);
        with ``lower`` those of ``max(lower, v)``, the clipped predictive the samples and quantiles follow."""
        f, sigma = np.asarray(params["loc"], np.float64), params["scale"]
        if lower is not None:
            return _clipped_moments(shift + scale * f, scale * np.asarray(sigma, np.float64), exp, lower)
        if exp:
            loc = shift + scale * f  # (S, ...): mean of g per draw
            half_var = 0.5 * (scale * sigma) ** 2
            first = np.exp(loc + half_var).mean(axis=0)  # E[e^g]
            second = np.exp(2.0 * loc + 4.0 * half_var).mean(axis=0)  # E[e^{2g}]
            return first - 1.0, np.sqrt(np.maximum(second - first**2, 0.0))
        return shift + scale * f.mean(axis=0), np.sqrt(scale**2 * (f.var(axis=0) + sigma**2))

    def variable_attrs(
        self, base: Mapping[str, str], units: str, long_name: str
    ) -> dict[str, dict[str, str]]:
        return {
            "mean": {
                **base,
                "long_name": f"posterior predictive mean of {long_name}",
                "cell_methods": "realization: mean",
                "description": "mean of the posterior predictive distribution of an observation, computed "
                "exactly from the Monte-Carlo mixture of the function samples and the observation noise",
            },
            "std": {
                "units": units,
                "long_name": f"posterior predictive standard deviation of {long_name}",
                "cell_methods": "realization: standard_deviation",
                "description": "standard deviation of the posterior predictive of an observation: epistemic "
                "(spread of the function samples) AND observation noise (the likelihood's sigma_y) included",
            },
            "quantiles": {
                **base,
                "long_name": f"posterior predictive quantiles of {long_name}",
                "description": self.quantile_method,
            },
            "samples": {
                **base,
                "long_name": f"posterior function samples of {long_name}",
                "description": "back-transformed function samples g^-1(m + d f_s), without observation "
                "noise; all cells of one sample s share the same weight draw (spatially coherent)",
            },
            "predictive_samples": {
                **base,
                "long_name": f"posterior predictive samples of {long_name}",
                "description": "observation draws y_s = g^-1(m + d (f_s + sigma eps_s)), the samples the "
                "quantiles come from (for CRPS, coverage, PIT)",
            },
            "f_normalised": {
                "units": "1",
                "long_name": f"function samples of {long_name} in the model's normalised units",
                "description": "f_s; with the attribute noise_std_normalised, the predictive density of the "
                "normalised target is the mixture (1/S) sum_s N(f_s, sigma^2)",
            },
            "noise_std_normalised": {"units": "1", "long_name": "predictive std (normalised)"},
        }
