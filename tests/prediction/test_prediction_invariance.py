"""Same numbers whatever the layout: latitude order, longitude convention, chunking, dask, station targets."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback
from helpers.predictions import to_canonical  # tests/ is on sys.path, see tests/conftest.py
from pred_helpers import make_model, schema_of

from climate_bnnp import predict

TOL = {"rtol": 1e-9, "atol": 1e-11}  # float64 model: only summation order differs


def _run(model, normaliser, ds, **kw):
    kw.setdefault("num_samples", 12)
    return predict(model, ds, schema=schema_of(normaliser), **kw)


def _assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    for name in ("mean", "std", "quantiles"):
        x, y = a[name].transpose(*b[name].dims).values, b[name].values
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        np.testing.assert_allclose(x, y, **TOL)


def test_descending_latitude_and_0_360_longitude(model, normaliser, grid):
    reference = _run(model, normaliser, grid)
    flipped = grid.isel(latitude=slice(None, None, -1))
    shifted = grid.assign_coords(longitude=grid.longitude.values % 360.0).sortby("longitude")
    both = shifted.isel(latitude=slice(None, None, -1)).transpose("time", "longitude", "latitude")
    for variant in (flipped, shifted, both):
        out = _run(model, normaliser, variant)
        # the output lives on the input's own coordinates and dim order
        np.testing.assert_array_equal(out.latitude.values, variant.latitude.values)
        np.testing.assert_array_equal(out.longitude.values, variant.longitude.values)
        assert out["mean"].dims == variant.tp.dims
        _assert_same(to_canonical(out), reference)


def test_chunked_equals_unchunked(model, normaliser, grid):
    full = _run(model, normaliser, grid, chunk_size=10_000, context_chunk_size=None, predict_at="all")
    small = _run(model, normaliser, grid, chunk_size=7, context_chunk_size=5, predict_at="all")
    _assert_same(small, full)


def test_dask_input_stays_lazy_until_computed(model, normaliser, grid):
    calls = []

    class Count(Callback):
        def _pretask(self, key, dsk, state):
            calls.append(key)

    chunked = grid.chunk({"time": 1, "latitude": 4, "longitude": 5})
    with Count():
        out = _run(model, normaliser, chunked)
    assert calls == []  # nothing was computed by predict() itself
    for name in ("mean", "std", "quantiles"):
        assert out[name].chunks is not None
    with Count():
        computed = out.compute()
    assert calls
    _assert_same(computed, _run(model, normaliser, grid))


def test_station_targets_equal_grid_predictions(model, normaliser, grid):
    rows, cols = np.array([0, 3, 5, 8, 2]), np.array([1, 4, 15, 0, 9])
    lat, lon = grid.latitude.values[rows], grid.longitude.values[cols]
    stations = xr.Dataset(
        coords={
            "latitude": ("station", lat),
            "longitude": ("station", lon % 360.0),
            "name": ("station", list("abcde")),
        }
    )
    grid_out = _run(model, normaliser, grid, predict_at="all")
    expected = grid_out["mean"].values[:, rows, cols]  # (time, station)
    for method in ("linear", "nearest"):
        out = _run(model, normaliser, grid, targets=stations, interpolation=method)
        assert out["mean"].dims == ("time", "station")
        np.testing.assert_allclose(out["mean"].values, expected, **TOL)
        np.testing.assert_allclose(
            out["quantiles"].values, grid_out["quantiles"].values[:, :, rows, cols], **TOL
        )
        assert list(out.name.values) == list("abcde")
    # covariates given at the stations instead of interpolated
    given = stations.assign(t2m=(("time", "station"), grid.t2m.values[:, rows, cols], {"units": "degC"}))
    given = given.assign_coords(time=grid.time)
    out = _run(model, normaliser, grid, targets=given)
    np.testing.assert_allclose(out["std"].values, grid_out["std"].values[:, rows, cols], **TOL)


def test_domain_mask_cells_stay_nan_and_are_not_context(model, normaliser, grid):
    masked = grid.copy(deep=True)
    masked["t2m"][:, :2, :3] = np.nan
    out = _run(model, normaliser, masked, predict_at="all")
    assert np.isnan(out["mean"].values[:, :2, :3]).all()
    assert np.isnan(out["quantiles"].values[:, :, :2, :3]).all()
    assert np.isfinite(out["mean"].values[:, 2:, 3:]).all()
    # a target value where the covariates are missing is ignored (not context)
    changed = masked.copy(deep=True)
    changed["tp"][:, :2, :3] = 50.0
    _assert_same(_run(model, normaliser, changed, predict_at="all"), out)


@pytest.mark.slow
def test_attn_bnnp_chunking_and_stations(normaliser, grid):
    model = make_model("attn_bnnp")
    full = _run(model, normaliser, grid, chunk_size=10_000, context_chunk_size=None, predict_at="all")
    small = _run(model, normaliser, grid, chunk_size=5, context_chunk_size=3, predict_at="all")
    _assert_same(small, full)
    stations = xr.Dataset(coords={"latitude": ("station", grid.latitude.values[[1, 4]]),
                                  "longitude": ("station", grid.longitude.values[[2, 7]])})  # fmt: skip
    out = _run(model, normaliser, grid, targets=stations)
    np.testing.assert_allclose(out["mean"].values, full["mean"].values[:, [1, 4], [2, 7]], **TOL)
