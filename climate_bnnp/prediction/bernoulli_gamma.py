"""Posterior predictive summaries of a Bernoulli–Gamma model in physical units (numpy/scipy only).

Per weight draw ``s`` and point, the model gives a rain probability ``π_s``, a Gamma shape ``k_s`` and
scale ``θ_s`` (model units, ``y ≥ 0``); the observation model is ``y = 0`` with probability ``1 − π_s``,
``y ~ Gamma(k_s, θ_s)`` otherwise. The posterior predictive is the Monte-Carlo mixture over the S draws,
``p(y) = (1/S) Σ_s p_s(y)``. The target's normalisation must keep 0 at 0 and be linear
(``tp_transform="scale"``: ``tp = d · y`` with ``d = normaliser.std["tp"]``, the training RMS), so
physical units only rescale:

* ``mean`` and ``std`` are the exact moments of the mixture: per component ``μ_s = π_s k_s θ_s`` and
  ``v_s = π_s k_s θ_s² (k_s + 1 − π_s k_s)`` (= ``π k (k+1) θ² − μ²``), so ``E[y] = mean_s μ_s`` and
  ``Var[y] = mean_s v_s + var_s μ_s`` (population variance over the S draws); times ``d`` resp. ``d``.
* ``prob_rain``: ``P(y > 0) = mean_s π_s``.
* ``predictive_samples``: one observation per weight draw by inversion of that draw's CDF,
  ``y_s = F_s⁻¹(u_s)``: dry (exactly 0) when ``u_s ≤ 1 − π_s``, otherwise
  ``θ_s · P⁻¹(k_s, (u_s − (1 − π_s)) / π_s)`` with ``P⁻¹`` the inverse regularised lower incomplete gamma
  function (:func:`scipy.special.gammaincinv`). ``u_s`` is :func:`~.summary.uniform_at` of the point's key
  (the same uniforms a Gaussian model's noise draws come from), so a point's draws do not depend on the
  chunking or on which other points are predicted. Quantiles are empirical quantiles of these draws.
* ``samples``: the per-draw predictive means ``d · μ_s`` (spatially coherent fields, as a Gaussian model's
  function samples).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaincinv

from ..data import InputSchema, Normaliser
from .summary import uniform_at

__all__ = ["bernoulli_gamma_draws", "check_bernoulli_gamma_schema", "summarise_bernoulli_gamma"]

_BELOW_ONE = 1.0 - 2.0**-53  # largest float64 < 1: gammaincinv(k, 1) is inf


def check_bernoulli_gamma_schema(schema: InputSchema) -> None:
    """Refuse a target normalisation that does not map 0 to 0 linearly (Bernoulli–Gamma needs exact zeros).

    Raises:
        ValueError: the target is centred (mean ≠ 0) or log1p-transformed.
    """
    norm, target = schema.normaliser, schema.target
    log1p = target == "tp" and norm.tp_transform == "log1p"
    if log1p or norm.mean.get(target, 0.0) != 0.0:
        raise ValueError(
            f"a Bernoulli–Gamma model predicts {target} >= 0 with exact zeros in model units, so its "
            f"normalisation must map 0 to 0 linearly; this schema has tp_transform={norm.tp_transform!r} and "
            f"mean {norm.mean.get(target)!r}. Train it on a store built with tp_transform='scale'."
        )


def bernoulli_gamma_draws(
    prob: np.ndarray, shape: np.ndarray, scale: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Observations ``F⁻¹(u)`` of Bernoulli–Gamma distributions (model units): exactly 0 when
    ``u ≤ 1 − prob``, else ``scale · gammaincinv(shape, (u − (1 − prob)) / prob)``.

    Args:
        prob, shape, scale: ``π, k, θ`` (any common shape). u: uniforms in (0, 1) of that shape.
    """
    dry = 1.0 - prob
    wet = u > dry
    out = np.zeros(np.broadcast_shapes(prob.shape, u.shape))
    v = np.clip((u[wet] - dry[wet]) / prob[wet], 0.0, _BELOW_ONE)
    out[wet] = scale[wet] * gammaincinv(shape[wet], v)
    return out


def summarise_bernoulli_gamma(
    prob: np.ndarray,
    shape: np.ndarray,
    scale: np.ndarray,
    *,
    normaliser: Normaliser,
    target: str,
    keys: np.ndarray,
    quantiles: Sequence[float],
    return_samples: bool,
) -> dict[str, np.ndarray]:
    """Posterior predictive summaries in physical units (see the module docstring).

    Args:
        prob, shape, scale: ``π, k, θ`` per weight draw ``(S, N)``, model units.
        normaliser: the schema's normaliser (linear and zero-preserving for ``target``).
        target: target variable name (e.g. ``"tp"``).
        keys: per-point keys ``(N,)`` from :func:`~.summary.cell_keys` (fix the observation draws).
        quantiles: levels in (0, 1).
        return_samples: also return the function and predictive samples.

    Returns:
        ``mean (N,)``, ``std (N,)``, ``prob_rain (N,)``, ``quantiles (Q, N)`` and, on request,
        ``samples (S, N)`` (per-draw predictive means) and ``predictive_samples (S, N)``.
    """
    mu = prob * shape * scale  # (S, N): per-draw mean π k θ
    var = prob * shape * scale**2 * (shape + 1.0 - prob * shape)  # (S, N): π k (k+1) θ² − μ², >= 0
    mean_model = mu.mean(axis=0)
    std_model = np.sqrt(var.mean(axis=0) + mu.var(axis=0))
    y = bernoulli_gamma_draws(prob, shape, scale, uniform_at(keys, prob.shape[0]))  # (S, N), model units
    y = np.asarray(normaliser.inverse(target, y))  # physical units (linear: exact zeros stay 0)
    out = {
        "mean": np.asarray(normaliser.inverse(target, mean_model)),
        "std": normaliser.std[target] * std_model,
        "prob_rain": prob.mean(axis=0),
        "quantiles": np.quantile(y, np.asarray(quantiles), axis=0),
    }
    if return_samples:
        out["samples"] = np.asarray(normaliser.inverse(target, mu))
        out["predictive_samples"] = y
    return out
