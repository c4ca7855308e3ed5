"""Evaluation metrics: one numpy implementation (:mod:`.scores`; ensemble scores in :mod:`.ensemble`;
calibration — randomised PIT, coverage, rank histogram — in :mod:`.calibration`), xarray wrappers
(:mod:`.xr`), the density scores of any registered likelihood's mixture (:mod:`.density`) and the scores
table of a prediction Dataset (:func:`score_predictions`, used by the pipeline for every method).

Torch-free. Samples lead: ``f_samples (S, ..., N)`` for targets ``y (..., N)``; NaN targets are ignored.
PPD is exactly the paper's (log of the mean density over samples *and* points; docs/method.md, "Scores");
:func:`mean_log_predictive_density` averages per-point log densities instead.
"""

from climate_bnnp.metrics.calibration import (
    central_coverage,
    central_coverage_from_pit,
    coverage_probability,
    pit_histogram,
    pit_interval,
    pit_interval_from_cdf,
    randomised_pit,
    rank_histogram,
)
from climate_bnnp.metrics.density import log_predictive_density_mixture, nll_mixture, ppd_mixture
from climate_bnnp.metrics.ensemble import (
    brier_score,
    brier_score_ensemble,
    exceedance_probability,
    mae_of_median,
    pooled_spread_skill_ratio,
    spread_skill,
    spread_skill_ratio,
    twcrps_samples,
)
from climate_bnnp.metrics.predictions import (
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
    "RAIN_THRESHOLD_MM",
    "log_predictive_density_mixture",
    "nll_mixture",
    "ppd_mixture",
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
    "brier_score",
    "brier_score_ensemble",
    "central_coverage",
    "central_coverage_from_pit",
    "coverage_probability",
    "exceedance_probability",
    "mae_of_median",
    "pit_histogram",
    "pooled_spread_skill_ratio",
    "pit_interval",
    "pit_interval_from_cdf",
    "randomised_pit",
    "rank_histogram",
    "spread_skill",
    "spread_skill_ratio",
    "twcrps_samples",
]
