"""What a geoscientist would use instead of the BNNP: per-task spatial baselines, numpy/scikit-learn only.

Each baseline is fitted on one task's context alone and predicts its targets. Common contract:

* ``xc (Nc, D)``: context positions in a Euclidean embedding (e.g. 3-D unit-sphere xyz of lat/lon,
  optionally followed by covariate columns); ``yc (Nc,)``: the target in model units (after the target
  transform);
  ``xt (Nt, D)``: target positions with the same columns;
* ``BASELINES[name](xc, yc, xt, *, num_samples, seed, **options)`` returns observation samples
  ``(S, Nt)`` float64, drawn independently per point from a Gaussian predictive with
  ``np.random.default_rng(seed)``;
* ``BASELINE_MOMENTS[name](xc, yc, xt, **options)`` returns that predictive's ``(mean, std)``, ``(Nt,)``
  each.

Baselines: ``kriging`` (GP regression with marginal-likelihood hyperparameters, :mod:`.kriging`),
``kriging_cov`` (kriging with external drift: a linear drift in the covariate columns after the first
three, xyz, plus an ARD GP over all columns, :mod:`.kriging_drift`), ``idw``
(inverse-distance weighting with a leave-one-out spread, :mod:`.idw`), ``context_mean`` (the context's mean
and std, :mod:`.constant`). Degenerate contexts (one point, constant ``yc``, duplicated positions) give
finite predictives; the std is floored at :data:`MIN_STD`.
"""

from climate_bnnp.baselines._common import MIN_STD, gaussian_samples
from climate_bnnp.baselines.constant import context_mean, context_mean_moments
from climate_bnnp.baselines.idw import idw, idw_mean, idw_moments
from climate_bnnp.baselines.kriging import fit_gp, gp_kriging, gp_kriging_moments
from climate_bnnp.baselines.kriging_drift import (
    DEFAULT_POSITION_COLUMNS,
    DriftKriging,
    fit_drift_kriging,
    kriging_cov,
    kriging_cov_moments,
)

BASELINES = {"kriging": gp_kriging, "kriging_cov": kriging_cov, "idw": idw, "context_mean": context_mean}
"""Name -> sampler ``(xc, yc, xt, *, num_samples, seed, **options) -> (S, Nt)``."""

BASELINE_MOMENTS = {
    "kriging": gp_kriging_moments,
    "kriging_cov": kriging_cov_moments,
    "idw": idw_moments,
    "context_mean": context_mean_moments,
}
"""Name -> ``(xc, yc, xt, **options) -> (mean, std)``, ``(Nt,)`` each."""

COVARIATE_BASELINES: frozenset[str] = frozenset({"kriging_cov"})
"""Baselines that take the standardised covariates as extra columns of ``x`` (after the xyz position)."""

__all__ = [
    "BASELINES",
    "COVARIATE_BASELINES",
    "BASELINE_MOMENTS",
    "DEFAULT_POSITION_COLUMNS",
    "DriftKriging",
    "MIN_STD",
    "context_mean",
    "context_mean_moments",
    "fit_drift_kriging",
    "fit_gp",
    "gaussian_samples",
    "gp_kriging",
    "gp_kriging_moments",
    "idw",
    "idw_mean",
    "idw_moments",
    "kriging_cov",
    "kriging_cov_moments",
]
