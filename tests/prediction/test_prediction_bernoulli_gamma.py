"""Bernoulli–Gamma models through ``climate_bnnp.predict``: moments against Monte Carlo from the returned
parameters, draws against scipy's Gamma CDF, chunk and station invariance, checkpoints, scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from pred_helpers import make_grid, make_model, schema_of
from scipy import stats

from climate_bnnp import BNNP, predict, save_checkpoint
from climate_bnnp.data import Normaliser
from climate_bnnp.likelihoods import get_likelihood
from climate_bnnp.metrics import score_predictions
from climate_bnnp.prediction.gaussian import gaussian_prediction
from climate_bnnp.prediction.summary import cell_keys, summarise, uniform_at

TOL = {"rtol": 1e-9, "atol": 1e-11}  # float64 model: only summation order differs
RMS = 1.3  # tp = RMS · y


def _bg_model(seed: int = 0) -> BNNP:
    torch.manual_seed(seed)
    model = BNNP(dim_x=4, dim_y=1, hidden_dims=(8,), inf_hidden_dims=(8,), likelihood="bernoulli_gamma")
    return model.double().eval()


@pytest.fixture
def bg_model() -> BNNP:
    return _bg_model()


@pytest.fixture
def bg_schema():
    return schema_of(
        Normaliser(mean={"tp": 0.0, "t2m": 15.0}, std={"tp": RMS, "t2m": 5.0}, tp_transform="scale")
    )


@pytest.fixture
def wet_dry_grid() -> xr.Dataset:
    grid = make_grid(observed=0.4)
    return grid.assign(tp=grid.tp.where(~(grid.tp < 0.4), 0.0))  # exact zeros in the context, NaN kept


def _run(model, schema, ds, **kw):
    kw.setdefault("num_samples", 16)
    return predict(model, ds, schema=schema, **kw)


def test_summary_moments_and_draws_against_monte_carlo_with_spread_out_draws():
    """Weight draws that disagree a lot (the epistemic part of std is large), against numpy's sampler."""
    rng = np.random.default_rng(0)
    s, n = 6, 4
    prob, shape, scale = (
        rng.uniform(0.05, 0.95, (s, n)),
        rng.uniform(0.3, 3.0, (s, n)),
        rng.uniform(0.2, 2.0, (s, n)),
    )
    norm = Normaliser(mean={"tp": 0.0}, std={"tp": RMS}, tp_transform="scale")
    keys = cell_keys(3, np.linspace(-60, 60, n), np.linspace(0, 90, n))
    out = summarise(get_likelihood("bernoulli_gamma"), {"prob": prob, "shape": shape, "scale": scale},
                    normaliser=norm, target="tp", keys=keys, quantiles=(0.1, 0.5, 0.9),
                    return_samples=True)  # fmt: skip
    draws = 100_000  # per weight draw and point
    wet = rng.random((draws, s, n)) < prob
    y = RMS * np.where(wet, rng.gamma(shape, scale, (draws, s, n)), 0.0).reshape(-1, n)
    se_mean = y.std(0) / np.sqrt(y.shape[0])
    assert (np.abs(y.mean(0) - out["mean"]) < 5 * se_mean).all(), (y.mean(0), out["mean"], se_mean)
    np.testing.assert_allclose(y.std(0), out["std"], rtol=0.01)
    np.testing.assert_allclose((y > 0).mean(0), out["prob_rain"], atol=0.005)
    aleatoric = RMS * np.sqrt((prob * shape * scale**2 * (shape + 1 - prob * shape)).mean(0))
    assert (out["std"] > 1.05 * aleatoric).any()  # the spread over the draws matters here
    np.testing.assert_allclose(out["samples"], RMS * prob * shape * scale)
    # one draw per weight draw, by inverting that draw's CDF at the point's keyed uniform
    u = uniform_at(keys, s)  # (S, N)
    dry = u <= 1 - prob
    inverse = stats.gamma.ppf(np.where(dry, 0.5, (u - (1 - prob)) / prob), shape, scale=scale)
    np.testing.assert_allclose(out["predictive_samples"], RMS * np.where(dry, 0.0, inverse), rtol=1e-10)
    assert (out["predictive_samples"][dry] == 0).all()


def test_outputs_are_zero_inflated_and_consistent_with_the_parameters(bg_model, bg_schema, wet_dry_grid):
    out = _run(bg_model, bg_schema, wet_dry_grid, return_samples=True, predict_at="all")
    assert out.attrs["likelihood"] == "bernoulli_gamma" and "noise_std_normalised" not in out.attrs
    assert "f_normalised" not in out and out["prob_rain"].attrs["units"] == "1"
    assert out["prob_rain"].attrs["long_name"] == "probability of precipitation > 0"
    assert out["prob_rain"].dims == out["mean"].dims and out["bg_prob"].dims[0] == "sample"
    y = out["predictive_samples"].values
    assert np.isfinite(y).all() and (y >= 0).all() and (y == 0).any() and (y > 0).any()
    prob, shape, scale = (out[n].values for n in ("bg_prob", "bg_shape", "bg_scale"))
    assert ((prob >= 0) & (prob <= 1)).all() and (shape > 0).all() and (scale > 0).all()
    np.testing.assert_allclose(out["prob_rain"].values, prob.mean(0), rtol=1e-12)
    np.testing.assert_allclose(out["samples"].values, RMS * prob * shape * scale, rtol=1e-12)
    np.testing.assert_allclose(
        out["quantiles"].values, np.quantile(y, out["quantile"].values, axis=0), rtol=1e-12
    )
    assert (np.diff(out["quantiles"].values, axis=0) >= 0).all()


@pytest.mark.parametrize("context", [True, False], ids=["posterior", "prior"])
def test_mean_and_std_match_monte_carlo_from_the_returned_parameters(
    bg_model, bg_schema, wet_dry_grid, context
):
    grid = wet_dry_grid.isel(time=[0], latitude=[1, 4, 7], longitude=[0, 5, 11])
    if not context:  # prior draws: (π, k, θ) vary more between draws than after this untrained model's update
        grid = grid.assign(tp=grid.tp * np.nan)
    out = _run(bg_model, bg_schema, grid, num_samples=8, return_samples=True, predict_at="all",
               allow_prior=not context)  # fmt: skip
    prob, shape, scale = (out[n].values.reshape(8, -1) for n in ("bg_prob", "bg_shape", "bg_scale"))  # (S, N)
    rng = np.random.default_rng(0)
    draws = 50_000  # per weight draw and point
    wet = rng.random((draws, *prob.shape)) < prob
    y = RMS * np.where(wet, rng.gamma(shape, scale, (draws, *prob.shape)), 0.0).reshape(-1, prob.shape[1])
    mean, std = out["mean"].values.ravel(), out["std"].values.ravel()
    se_mean = y.std(0) / np.sqrt(y.shape[0])
    assert (np.abs(y.mean(0) - mean) < 5 * se_mean).all(), (y.mean(0), mean, se_mean)
    np.testing.assert_allclose(y.std(0), std, rtol=0.03)  # measured within 1.2 % (heavy tails, small k)
    np.testing.assert_allclose((y > 0).mean(0), out["prob_rain"].values.ravel(), atol=0.005)


def test_predictive_samples_follow_each_draws_distribution(bg_model, bg_schema, wet_dry_grid):
    out = _run(bg_model, bg_schema, wet_dry_grid, num_samples=24, return_samples=True, predict_at="all")
    prob, shape, scale = (out[n].values.ravel() for n in ("bg_prob", "bg_shape", "bg_scale"))
    y = out["predictive_samples"].values.ravel() / RMS  # model units
    # randomised PIT under scipy's Gamma CDF: uniform if every draw comes from its own (π, k, θ)
    v = np.random.default_rng(1).random(y.size)
    pit = np.where(y > 0, (1 - prob) + prob * stats.gamma.cdf(y, shape, scale=scale), v * (1 - prob))
    assert stats.kstest(pit, "uniform").pvalue > 1e-3
    assert abs((y == 0).mean() - (1 - prob).mean()) < 4 * np.sqrt((1 - prob).mean() * prob.mean() / y.size)


def test_chunking_and_station_targets_do_not_change_a_points_numbers(bg_model, bg_schema, wet_dry_grid):
    kw = {"predict_at": "all", "return_samples": True}
    full = _run(bg_model, bg_schema, wet_dry_grid, chunk_size=10_000, context_chunk_size=None, **kw)
    small = _run(bg_model, bg_schema, wet_dry_grid, chunk_size=7, context_chunk_size=5, **kw)
    for name in (
        "mean",
        "std",
        "prob_rain",
        "quantiles",
        "samples",
        "predictive_samples",
        "bg_prob",
        "bg_scale",
    ):
        np.testing.assert_allclose(small[name].values, full[name].values, **TOL)
    rows, cols = np.array([0, 3, 8]), np.array([1, 15, 9])
    lat, lon = wet_dry_grid.latitude.values[rows], wet_dry_grid.longitude.values[cols] % 360.0
    stations = xr.Dataset(coords={"latitude": ("station", lat), "longitude": ("station", lon)})
    out = _run(bg_model, bg_schema, wet_dry_grid, targets=stations, interpolation="nearest")
    for name in ("mean", "std", "prob_rain"):
        np.testing.assert_allclose(out[name].values, full[name].values[:, rows, cols], **TOL)
    np.testing.assert_allclose(out["quantiles"].values, full["quantiles"].values[:, :, rows, cols], **TOL)


def test_dask_input_gives_the_same_numbers_lazily(bg_model, bg_schema, wet_dry_grid):
    grid = wet_dry_grid.isel(latitude=slice(0, 5), longitude=slice(0, 8))
    eager = _run(bg_model, bg_schema, grid, num_samples=6, return_samples=True)
    lazy = _run(bg_model, bg_schema, grid.chunk({"time": 1, "latitude": 3, "longitude": 4}), num_samples=6,
                return_samples=True)  # fmt: skip
    assert lazy["prob_rain"].chunks is not None and lazy["bg_shape"].chunks is not None
    lazy = lazy.compute()
    for name in ("mean", "std", "prob_rain", "quantiles", "predictive_samples", "bg_shape"):
        np.testing.assert_allclose(lazy[name].values, eager[name].values, **TOL)


def test_checkpoint_route(tmp_path, bg_model, bg_schema, wet_dry_grid):
    path = save_checkpoint(tmp_path / "bg.pt", bg_model, schema=bg_schema)
    from_file = predict(path, wet_dry_grid, num_samples=6)
    direct = _run(bg_model, bg_schema, wet_dry_grid, num_samples=6)
    for name in ("mean", "std", "prob_rain", "quantiles"):
        np.testing.assert_allclose(from_file[name].values, direct[name].values, rtol=1e-12)
    assert from_file.attrs["likelihood"] == "bernoulli_gamma" and from_file["mean"].attrs["units"] == "mm"


def test_a_normalisation_that_moves_zero_is_refused(bg_model, wet_dry_grid):
    for norm in (
        Normaliser(mean={"tp": 0.0, "t2m": 15.0}, std={"tp": 1.0, "t2m": 5.0}, tp_transform="log1p"),
        Normaliser(mean={"tp": 0.8, "t2m": 15.0}, std={"tp": 1.1, "t2m": 5.0}),
    ):
        with pytest.raises(ValueError, match=r"Bernoulli–Gamma .*map 0 to 0 linearly.*tp_transform='scale'"):
            _run(bg_model, schema_of(norm), wet_dry_grid)


def test_scores_use_the_bernoulli_gamma_density(bg_model, bg_schema, wet_dry_grid):
    out = _run(bg_model, bg_schema, wet_dry_grid.isel(time=0), return_samples=True, predict_at="all")
    pred = out.stack(cell=("latitude", "longitude")).reset_index("cell")
    truth = xr.DataArray(np.random.default_rng(2).gamma(0.7, 1.0, pred.sizes["cell"]), dims="cell")
    truth[::3] = 0.0
    scores = score_predictions(pred, truth, truth_normalised=truth / RMS, by=None)
    z = truth.values / RMS
    prob, shape, scale = (pred[n].values for n in ("bg_prob", "bg_shape", "bg_scale"))  # (S, N)
    density = np.where(z > 0, prob * stats.gamma.pdf(z, shape, scale=scale), 1 - prob)  # (S, N)
    assert float(scores["ppd"][0]) == pytest.approx(np.log(density.mean()), rel=1e-10)
    assert float(scores["nll"][0]) == pytest.approx(-np.log(density.mean(0)).mean(), rel=1e-10)


def test_gaussian_models_and_baselines_record_their_likelihood(normaliser, grid):
    out = predict(make_model(), grid, schema=schema_of(normaliser), num_samples=4, return_samples=True)
    assert out.attrs["likelihood"] == "gaussian" and "noise_std_normalised" in out.attrs
    assert "prob_rain" not in out and "bg_prob" not in out and "f_normalised" in out
    zeros, ones = np.zeros(3), np.ones(3)
    schema = schema_of(normaliser)
    base = gaussian_prediction(zeros, ones, zeros, np.arange(3.0), schema=schema, num_samples=5, seed=0,
                               quantiles=(0.5,))  # fmt: skip
    assert base.attrs["likelihood"] == "gaussian" and base["predictive_samples"].shape == (5, 3)
