"""The xarray wrappers reproduce the numpy functions (no second implementation) and stay lazy on dask."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from climate_bnnp import metrics as M


@pytest.fixture
def fields():
    rng = np.random.default_rng(0)
    S, T, LAT, LON = 6, 3, 4, 5
    truth = rng.normal(size=(T, LAT, LON))
    truth[0, 1, 2] = np.nan
    samples = rng.normal(size=(T, LAT, S, LON))  # sample dim deliberately not first
    coords = {"time": np.arange(T), "latitude": np.linspace(50, 45, LAT), "longitude": np.arange(LON) + 5.0}
    t = xr.DataArray(truth, dims=("time", "latitude", "longitude"), coords=coords)
    s = xr.DataArray(samples, dims=("time", "latitude", "sample", "longitude"), coords=coords)
    # numpy views: samples lead, points flattened
    y_np = truth.reshape(T, LAT * LON)  # (T, N)
    s_np = np.moveaxis(samples, 2, 0).reshape(S, T, LAT * LON)  # (S, T, N)
    return t, s, y_np, s_np


def test_reduced_wrappers_match_numpy_per_time_step(fields):
    t, s, y, f = fields
    space = ("latitude", "longitude")
    np.testing.assert_allclose(M.ppd_xr(t, s, 0.3, dim=space).values, M.ppd(y, f, 0.3), rtol=1e-12)
    np.testing.assert_allclose(
        M.mean_log_predictive_density_xr(t, s, 0.3, dim=space).values,
        M.mean_log_predictive_density(y, f, 0.3),
        rtol=1e-12,
    )
    np.testing.assert_allclose(M.nll_xr(t, s, 0.3, dim=space).values, M.nll(y, f, 0.3), rtol=1e-12)
    np.testing.assert_allclose(M.coverage_xr(t, s, 0.5, dim=space).values, M.central_coverage(y, f, 0.5))
    mean = s.mean("sample")
    np.testing.assert_allclose(M.mae_xr(t, mean, dim=space).values, M.mae(y, f.mean(0)), rtol=1e-12)
    np.testing.assert_allclose(M.rmse_xr(t, mean, dim=space).values, M.rmse(y, f.mean(0)), rtol=1e-12)
    assert M.ppd_xr(t, s, 0.3, dim=space).dims == ("time",)
    # default dim = all of truth's dims -> one number
    assert float(M.ppd_xr(t, s, 0.3)) == pytest.approx(M.ppd(y, f, 0.3, axis=None), rel=1e-12)


def test_pointwise_wrappers_match_numpy(fields):
    t, s, y, f = fields
    crps = M.crps_xr(t, s)
    assert crps.dims == t.dims and crps.name == "crps"
    np.testing.assert_allclose(crps.values.reshape(y.shape), M.crps_samples(y, f), rtol=1e-12)
    assert np.isnan(crps.values[0, 1, 2])
    lpd = M.log_predictive_density_xr(t, s, 0.3)
    np.testing.assert_allclose(lpd.values.reshape(y.shape), M.log_predictive_density(y, f, 0.3), rtol=1e-12)


def test_dask_input_stays_lazy_and_gives_same_numbers(fields):
    t, s, _, _ = fields
    tc, sc = t.chunk({"time": 1, "latitude": 2}), s.chunk({"time": 1, "latitude": 2, "sample": 3})
    space = ("latitude", "longitude")
    for lazy, eager in (
        (M.crps_xr(tc, sc), M.crps_xr(t, s)),
        (M.ppd_xr(tc, sc, 0.3, dim=space), M.ppd_xr(t, s, 0.3, dim=space)),
        (M.coverage_xr(tc, sc, dim=space), M.coverage_xr(t, s, dim=space)),
    ):
        assert lazy.chunks is not None  # still a dask array
        xr.testing.assert_allclose(lazy.compute(), eager)


def test_wrapper_errors(fields):
    t, s, _, _ = fields
    with pytest.raises(ValueError, match="no sample dimension 'member'"):
        M.crps_xr(t, s, sample_dim="member")
    with pytest.raises(ValueError, match="not among truth's dimensions"):
        M.ppd_xr(t, s, 0.3, dim="height")
    with pytest.raises(TypeError, match="DataArray"):
        M.crps_xr(t.values, s)
