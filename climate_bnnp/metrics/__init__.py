"""Evaluation metrics: one numpy implementation (:mod:`.scores`), xarray wrappers (:mod:`.xr`) and the
scores table of a prediction Dataset (:func:`score_predictions`, used by the pipeline for every method).

Torch-free. Samples lead: ``f_samples (S, ..., N)`` for targets ``y (..., N)``; NaN targets are ignored.
PPD is exactly the paper's (log of the mean density over samples *and* points; docs/method.md, "Scores");
:func:`mean_log_predictive_density` averages per-point log densities instead.
"""

from climate_bnnp.metrics.bernoulli_gamma import (
    bernoulli_gamma_log_density,
    log_predictive_density_bernoulli_gamma,
    nll_bernoulli_gamma,
    ppd_bernoulli_gamma,
)
from climate_bnnp.metrics.predictions import (
    BERNOULLI_GAMMA_VARIABLES,
    RAIN_THRESHOLD_MM,
    compare_methods,
    methods_markdown,
    score_predictions,
)
from climate_bnnp.metrics.scores import (
    coverage,
    crps_samples,
    in_interval,
    log_predictive_density,
    mae,
    mean_log_predictive_density,
    nll,
    ppd,
    rmse,
    summarise,
)
from climate_bnnp.metrics.xr import (
    coverage_xr,
    crps_xr,
    log_predictive_density_xr,
    mae_xr,
    mean_log_predictive_density_xr,
    nll_xr,
    ppd_xr,
    rmse_xr,
)

__all__ = [
    "BERNOULLI_GAMMA_VARIABLES",
    "RAIN_THRESHOLD_MM",
    "bernoulli_gamma_log_density",
    "log_predictive_density_bernoulli_gamma",
    "nll_bernoulli_gamma",
    "ppd_bernoulli_gamma",
    "compare_methods",
    "methods_markdown",
    "score_predictions",
    "coverage",
    "coverage_xr",
    "crps_samples",
    "crps_xr",
    "in_interval",
    "log_predictive_density",
    "log_predictive_density_xr",
    "mae",
    "mae_xr",
    "mean_log_predictive_density",
    "mean_log_predictive_density_xr",
    "nll",
    "nll_xr",
    "ppd",
    "ppd_xr",
    "rmse",
    "rmse_xr",
    "summarise",
]
