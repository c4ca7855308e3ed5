"""The zero-inflated Bernoulli–Gamma observation model: its predictive side (numpy/scipy, no torch).

For one point, with rain probability π, Gamma shape k and scale θ (model units, ``y >= 0``)::

    p(y) = 1 − π                   if y <= 0   (a point mass at 0: dry)
    p(y) = π · Gamma(y; k, θ)      if y > 0,   Gamma(y; k, θ) = y^(k−1) e^(−y/θ) / (Γ(k) θ^k)

Parameters ``prob`` (π), ``shape`` (k), ``scale`` (θ) and, optionally, ``logit`` (log-odds of π): given,
``log π`` and ``log(1 − π)`` come from it (``log_expit``), so the log density stays finite where π rounds
to 1 in floating point, as in training. Moments: ``μ = π k θ``, ``v = π k θ² (k + 1 − π k)``
(= ``π k (k+1) θ² − μ²``). CDF ``F(y) = 1 − π + π P(k, y/θ)`` for ``y >= 0`` (P: the regularised lower
incomplete gamma function), so the quantile function is exactly 0 for ``u <= 1 − π`` and
``θ P⁻¹(k, (u − (1 − π)) / π)`` above.

A prediction stores the per-draw parameters as ``bg_prob``, ``bg_shape``, ``bg_scale`` and ``bg_logit``, and
``prob_rain = mean_s π_s``. The target's normalisation must keep 0 at 0 linearly (``tp_transform="scale"``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import gammainc, gammaincinv, gammaln, log_expit, xlogy

from .base import Params, PredictiveLikelihood

__all__ = ["BernoulliGamma"]

_BELOW_ONE = 1.0 - 2.0**-53  # largest float64 < 1: gammaincinv(k, 1) is inf


class BernoulliGamma(PredictiveLikelihood):
    """Point mass at zero with probability ``1 − π``, Gamma(k, θ) amounts with probability π."""

    name = "bernoulli_gamma"
    parameters = ("prob", "shape", "scale")
    optional = ("logit",)
    variables = {"prob": "bg_prob", "shape": "bg_shape", "scale": "bg_scale", "logit": "bg_logit"}
    per_draw = ("prob", "shape", "scale", "logit")
    summaries = ("prob_rain",)
    point_mass = 0.0
    support = (0.0, np.inf)
    training = "climate_bnnp.likelihoods.bernoulli_gamma:BernoulliGammaLikelihood"
    quantile_method = (
        "empirical quantiles (linear interpolation) of the S posterior predictive samples "
        "y_s = d F_s^-1(u_s) in physical units, one Bernoulli-Gamma observation per weight draw by inverting "
        "its CDF (exactly 0 when u_s <= 1 - pi_s), u_s uniform, a deterministic function of (seed, task, "
        "latitude, longitude, s)"
    )

    def check_params(self, params: Params) -> None:
        """Refuse parameters outside ``0 <= prob <= 1``, ``shape > 0``, ``scale > 0`` (NaN passes)."""
        prob, shape, scale = (np.asarray(params[n]) for n in ("prob", "shape", "scale"))
        bad = (prob < 0) | (prob > 1)
        bad = np.sum(bad) + np.sum(shape <= 0) + np.sum(scale <= 0)
        if bad:
            raise ValueError(
                f"Bernoulli–Gamma parameters need 0 <= prob <= 1, shape > 0 and scale > 0; {int(bad)} "
                "entries are outside (pass bg_prob, bg_shape, bg_scale as climate_bnnp.predict returns them)."
            )

    def _log_probs(self, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """``(log π, log(1 − π))``, from the logit when given."""
        if "logit" in params:
            logit = np.asarray(params["logit"], np.float64)
            return log_expit(logit), log_expit(-logit)
        prob = np.asarray(params["prob"], np.float64)
        with np.errstate(divide="ignore"):
            return np.log(prob), np.log1p(-prob)

    def log_density(self, y: np.ndarray, params: Params) -> np.ndarray:
        """``log(1 − π)`` where ``y <= 0``, ``log π + (k − 1) log y − y/θ − log Γ(k) − k log θ`` above."""
        y = np.asarray(y, np.float64)
        shape, scale = np.asarray(params["shape"], np.float64), np.asarray(params["scale"], np.float64)
        log_wet, log_dry = self._log_probs(params)
        wet = y > 0
        y_wet = np.where(wet, y, 1.0)  # keeps the log finite where dry (that branch is not used there)
        log_gamma = xlogy(shape - 1.0, y_wet) - y_wet / scale - gammaln(shape) - shape * np.log(scale)
        out = np.where(wet, log_wet + log_gamma, log_dry)
        return np.where(np.isnan(y), np.nan, out)

    def cdf(self, y: np.ndarray, params: Params) -> np.ndarray:
        y = np.asarray(y, np.float64)
        prob = np.asarray(params["prob"], np.float64)
        wet = prob * gammainc(params["shape"], np.maximum(y, 0.0) / params["scale"])
        return np.where(y < 0, 0.0, 1.0 - prob + wet)

    def ppf(self, u: np.ndarray, params: Params) -> np.ndarray:
        """Exactly 0 when ``u <= 1 − π``, else ``θ · P⁻¹(k, (u − (1 − π)) / π)``."""
        u, prob, shape, scale = np.broadcast_arrays(
            np.asarray(u, np.float64),
            *(np.asarray(params[n], np.float64) for n in ("prob", "shape", "scale")),
        )
        dry = 1.0 - prob
        wet = u > dry
        out = np.zeros(u.shape)
        v = np.clip((u[wet] - dry[wet]) / prob[wet], 0.0, _BELOW_ONE)
        out[wet] = scale[wet] * gammaincinv(shape[wet], v)
        return out

    def mean(self, params: Params) -> np.ndarray:
        """``π k θ``."""
        return params["prob"] * params["shape"] * params["scale"]

    def variance(self, params: Params) -> np.ndarray:
        """``π k θ² (k + 1 − π k)``."""
        prob, shape, scale = params["prob"], params["shape"], params["scale"]
        return prob * shape * scale**2 * (shape + 1.0 - prob * shape)

    def point_summaries(self, params: Params) -> dict[str, np.ndarray]:
        """``prob_rain``: ``P(y > 0) = mean_s π_s``."""
        return {"prob_rain": np.asarray(params["prob"]).mean(axis=0)}

    def check_target_transform(
        self, *, target: str, mean: float | None, linear: bool, transform: str
    ) -> None:
        """Refuse a normalisation that does not map 0 to 0 linearly (exact zeros must stay exact zeros).

        Raises:
            ValueError: the target is centred (mean ≠ 0) or not linearly transformed (log1p).
        """
        if not linear or (mean or 0.0) != 0.0:
            raise ValueError(
                f"a Bernoulli–Gamma model predicts {target} >= 0 with exact zeros in model units, so its "
                f"normalisation must map 0 to 0 linearly; this schema has tp_transform={transform!r} and "
                f"mean {mean!r}. Train it on a store built with tp_transform='scale'."
            )

    def variable_attrs(
        self, base: Mapping[str, str], units: str, long_name: str
    ) -> dict[str, dict[str, str]]:
        mixture = "the Monte-Carlo mixture over the S weight draws of Bernoulli-Gamma(pi_s, k_s, theta_s)"
        return {
            "mean": {
                **base,
                "long_name": f"posterior predictive mean of {long_name}",
                "cell_methods": "realization: mean",
                "description": "mean of the posterior predictive distribution of an observation, exactly "
                f"from {mixture}: mean_s pi_s k_s theta_s (back-transformed)",
            },
            "std": {
                "units": units,
                "long_name": f"posterior predictive standard deviation of {long_name}",
                "cell_methods": "realization: standard_deviation",
                "description": f"standard deviation of {mixture}: epistemic (spread over the draws) AND "
                "observation noise (dry/wet and the Gamma amount) included",
            },
            "prob_rain": {
                "units": "1",
                "long_name": "probability of precipitation > 0",
                "description": "posterior predictive P(y > 0) = mean_s pi_s",
            },
            "quantiles": {
                **base,
                "long_name": f"posterior predictive quantiles of {long_name}",
                "description": self.quantile_method,
            },
            "samples": {
                **base,
                "long_name": f"posterior samples of the predictive mean of {long_name}",
                "description": "per weight draw s the predictive mean pi_s k_s theta_s (back-transformed), "
                "without observation noise; all cells of one sample share the same draw (spatially coherent)",
            },
            "predictive_samples": {
                **base,
                "long_name": f"posterior predictive samples of {long_name}",
                "description": "one Bernoulli-Gamma observation per weight draw (exact zeros when dry), the "
                "samples the quantiles come from (for CRPS, coverage, PIT)",
            },
            "bg_prob": {
                "units": "1",
                "long_name": "Bernoulli-Gamma rain probability pi_s per weight draw",
                "description": "with bg_shape and bg_scale, the predictive density of the target in model "
                "units is (1/S) sum_s [(1 - pi_s) if y <= 0 else pi_s Gamma(y; k_s, theta_s)]",
            },
            "bg_shape": {"units": "1", "long_name": "Bernoulli-Gamma shape k_s per weight draw"},
            "bg_scale": {
                "units": "1",
                "long_name": "Bernoulli-Gamma scale theta_s per weight draw, in the model's target units",
            },
            "bg_logit": {
                "units": "1",
                "long_name": "Bernoulli-Gamma log-odds of rain log(pi_s / (1 - pi_s)) per weight draw",
                "description": "the network's output before the sigmoid; the density scores take log pi_s "
                "and log(1 - pi_s) from it, finite where pi_s rounds to 1",
            },
        }
