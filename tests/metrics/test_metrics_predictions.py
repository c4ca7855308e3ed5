"""The scores Dataset of a prediction against independent computations (scoringrules, scipy, by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scoringrules
import xarray as xr
from scipy.stats import norm

from climate_bnnp.metrics import compare_methods, score_predictions


def _prediction(seed: int = 0, tasks: int = 3, cells: int = 40, samples: int = 64):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=tasks * cells)
    sigma = 0.5 + rng.uniform(size=tasks * cells)
    f = np.broadcast_to(mu, (samples, mu.size))
    draws = mu + sigma * rng.standard_normal((samples, mu.size))
    truth = np.maximum(mu + sigma * rng.standard_normal(mu.size), 0.0)  # exact zeros, like dry cells
    pred = xr.Dataset(
        {
            "mean": ("cell", mu),
            "predictive_samples": (("sample", "cell"), draws),
            "f_normalised": (("sample", "cell"), np.array(f)),
            "noise_std_normalised": ("cell", sigma),
        },
        coords={"task": ("cell", np.repeat(np.arange(tasks), cells))},
    )
    return pred, xr.DataArray(truth, dims="cell", coords={"task": pred["task"]}, attrs={"units": "mm"})


def test_scores_match_scoringrules_scipy_and_hand_computation():
    pred, truth = _prediction()
    where = xr.DataArray(np.arange(truth.size) % 5 != 0, dims="cell")
    out = score_predictions(pred, truth, truth_normalised=truth, where=where)
    assert out.sizes["task"] == 3 and out["crps"].attrs["units"] == "mm"
    for t in range(3):
        cells = (pred["task"].values == t) & where.values
        y, s, mu = (
            truth.values[cells],
            pred["predictive_samples"].values[:, cells],
            pred["mean"].values[cells],
        )
        sigma = pred["noise_std_normalised"].values[cells]
        crps = scoringrules.crps_ensemble(y, s.T).mean()  # members on the last axis
        assert float(out["crps"][t]) == pytest.approx(crps, rel=1e-10)
        assert float(out["nll"][t]) == pytest.approx(-norm.logpdf(y, mu, sigma).mean(), rel=1e-10)
        assert float(out["ppd"][t]) == pytest.approx(np.log(norm.pdf(y, mu, sigma).mean()), rel=1e-10)
        assert float(out["mae"][t]) == pytest.approx(np.abs(y - mu).mean())
        fair = scoringrules.crps_ensemble(y, s.T, estimator="fair").mean()
        assert float(out["crps_fair"][t]) == pytest.approx(fair, rel=1e-10)
        heavy = np.maximum(y, 1.0), np.maximum(s, 1.0)  # the chaining function of twCRPS above 1 mm
        assert float(out["twcrps"][t]) == pytest.approx(
            scoringrules.crps_ensemble(heavy[0], heavy[1].T, estimator="fair").mean(), rel=1e-10, abs=1e-14
        )
        assert float(out["mae_median"][t]) == pytest.approx(np.abs(y - np.median(s, axis=0)).mean())
        m = s.shape[0]
        assert float(out["spread"][t]) ** 2 == pytest.approx((m + 1) / m * s.var(axis=0, ddof=1).mean())
        assert float(out["skill"][t]) ** 2 == pytest.approx(((s.mean(0) - y) ** 2).mean())
        # coverage: each truth's rank r among the draws (no ties here) puts its PIT uniformly on
        # [r/(S+1), (r+1)/(S+1)]; count the part of that interval inside [0.05, 0.95]
        r = (s < y).sum(0)
        inside = np.clip(np.minimum((r + 1) / (m + 1), 0.95) - np.maximum(r / (m + 1), 0.05), 0, None)
        assert float(out["coverage90"][t]) == pytest.approx((inside * (m + 1)).mean())
        for name, thr in (("brier_rain", 0.1), ("brier_1mm", 1.0), ("brier_5mm", 5.0)):
            brier = (((s > thr).mean(0) - (y > thr)) ** 2).mean()
            assert float(out[name][t]) == pytest.approx(brier)
        assert float(out["num_targets"][t]) == cells.sum()
    np.testing.assert_allclose(out["pit"].sum("pit_bin"), 1.0)


def test_scores_on_a_grid_read_without_reshaping_and_pooled_spread_skill():
    """A gridded store (dims task, latitude, longitude) with unit labels scores like the same points along
    one dimension; the pooled spread/skill ratio is sqrt(Σ n spread² / Σ n skill²)."""
    pred, truth = _prediction(tasks=4, cells=30)
    grid = {"cell": pd.MultiIndex.from_product([range(2), range(6), range(10)], names=["task", "lat", "lon"])}
    gpred = pred.drop_vars("task").assign_coords(xr.Coordinates.from_pandas_multiindex(grid["cell"], "cell"))
    gpred = gpred.unstack("cell")
    gtruth = truth.drop_vars("task").assign_coords(
        xr.Coordinates.from_pandas_multiindex(grid["cell"], "cell")
    )
    gtruth = gtruth.unstack("cell")
    units = xr.DataArray(np.repeat(np.arange(4), 30).reshape(2, 6, 10), dims=("task", "lat", "lon"))
    units = units.where(gtruth > -1, -1)  # every cell a target
    on_grid = score_predictions(gpred, gtruth, dim=("task", "lat", "lon"), by=units.rename("unit"))
    flat = score_predictions(pred, truth)
    for name in ("crps_fair", "mae", "coverage90", "brier_rain"):
        np.testing.assert_allclose(on_grid[name].values, flat[name].values, rtol=1e-12)
    summary = compare_methods({"a": flat}, xr.DataArray(["g"] * 4, dims="task"), reference="a")
    n = flat["num_targets"].values
    ratio = np.sqrt((n * flat["spread"].values ** 2).sum() / (n * flat["skill"].values ** 2).sum())
    assert float(summary["spread_skill_mean"].sel(model="a", group="g")) == pytest.approx(ratio)


def test_pit_is_flat_for_a_calibrated_forecast_and_nan_predictions_propagate():
    rng = np.random.default_rng(1)
    n, s = 20_000, 50
    truth = xr.DataArray(rng.standard_normal(n), dims="cell")
    pred = xr.Dataset(
        {
            "mean": ("cell", np.zeros(n)),
            "predictive_samples": (("sample", "cell"), rng.standard_normal((s, n))),
        }
    )
    pit = score_predictions(pred, truth, by=None)["pit"].values[0]
    np.testing.assert_allclose(pit, 0.1, atol=0.01)
    pred["mean"][3] = np.nan
    assert np.isnan(score_predictions(pred, truth, by=None)["mae"].values[0])


def test_missing_variables_and_empty_tasks_are_reported():
    pred, truth = _prediction()
    with pytest.raises(ValueError, match=r"lacks \['predictive_samples'\].*return_samples=True"):
        score_predictions(pred.drop_vars("predictive_samples"), truth)
    with pytest.raises(ValueError, match=r"task 0 has no target cell"):
        score_predictions(pred, truth, where=pred["task"] != 0)


def test_compare_methods_paired_differences():
    pred, truth = _prediction()
    a = score_predictions(pred, truth)
    b = a.copy(deep=True)
    b["crps_fair"] = a["crps_fair"] + xr.DataArray([0.1, 0.2, 0.3], dims="task")
    groups = xr.DataArray(["x", "x", "y"], dims="task")
    out = compare_methods({"ref": a, "other": b}, groups, reference="ref")
    assert float(out["crps_fair_diff_mean"].sel(model="other", group="x")) == pytest.approx(0.15)
    assert float(out["crps_fair_diff_se"].sel(model="other", group="x")) == pytest.approx(0.05)
    assert float(out["crps_fair_diff_mean"].sel(model="ref", group="y")) == 0.0
    with pytest.raises(ValueError, match="scored on other tasks"):
        compare_methods({"ref": a, "other": a.isel(task=[0, 1, 1])}, groups, reference="ref")
