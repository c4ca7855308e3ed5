"""Property-based (Hypothesis) versions of the layout invariances: whatever the latitude order, the
longitude convention (0–360 or −180–180), where the spatial dims sit among the dims, the extra task dims
(which members, in which order), dask chunking and ``chunk_size``/``context_chunk_size``, a cell's numbers
are those of the canonical layout. (The order of the task dims themselves is part of each task's seed key.)"""

from __future__ import annotations

import functools

import numpy as np
import xarray as xr
from helpers.predictions import to_canonical  # tests/ is on sys.path, see tests/conftest.py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pred_helpers import make_grid, make_model, schema_of

from climate_bnnp import predict
from climate_bnnp.data import Normaliser

TOL = {"rtol": 1e-9, "atol": 1e-11}  # float64 model: only summation order differs
NORMALISER = Normaliser(mean={"tp": 0.8, "t2m": 15.0}, std={"tp": 1.1, "t2m": 5.0})
MEMBERS = np.array([10, 20, 30])
SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@functools.cache
def _canonical() -> xr.Dataset:
    """(member, time, latitude, longitude): three members with their own data, canonical grid."""
    grids = [make_grid(n_lat=5, n_lon=7, seed=k, observed=0.5) for k in range(MEMBERS.size)]
    return xr.concat(grids, dim=xr.DataArray(MEMBERS, dims="member", name="member"))


def _predict(ds: xr.Dataset, **kw) -> xr.Dataset:
    return predict(make_model(), ds, schema=schema_of(NORMALISER), num_samples=4, **kw)


@functools.cache
def _reference() -> xr.Dataset:
    return _predict(_canonical(), chunk_size=10_000, context_chunk_size=None).compute()


layouts = st.fixed_dictionaries(
    {
        "members": st.lists(st.sampled_from(list(MEMBERS)), min_size=1, max_size=3, unique=True),
        "times": st.lists(st.sampled_from([0, 1]), min_size=1, max_size=2, unique=True),
        "descending_lat": st.booleans(),
        "lon_0_360": st.booleans(),
        "order": st.permutations(["member", "time", "latitude", "longitude"]),
        "dask": st.one_of(st.none(), st.tuples(st.integers(2, 5), st.integers(3, 7))),
        "chunk_size": st.integers(8, 64),
        "context_chunk_size": st.one_of(st.none(), st.integers(4, 20)),
    }
)


@SETTINGS
@given(layout=layouts)
def test_a_cells_numbers_do_not_depend_on_the_layout(layout):
    ds = _canonical().sel(member=layout["members"]).isel(time=layout["times"])
    if layout["descending_lat"]:
        ds = ds.isel(latitude=slice(None, None, -1))
    if layout["lon_0_360"]:
        ds = ds.assign_coords(longitude=ds.longitude.values % 360.0).sortby("longitude")
    task_dims = iter(("member", "time"))  # the task dims keep their order: it is part of each task's seed key
    ds = ds.transpose(*(d if d in ("latitude", "longitude") else next(task_dims) for d in layout["order"]))
    if layout["dask"] is not None:
        ds = ds.chunk({"latitude": layout["dask"][0], "longitude": layout["dask"][1]})
    out = _predict(ds, chunk_size=layout["chunk_size"], context_chunk_size=layout["context_chunk_size"])
    assert out["mean"].dims == ds["tp"].dims  # the output keeps the input's layout
    np.testing.assert_array_equal(out.latitude.values, ds.latitude.values)
    np.testing.assert_array_equal(out.longitude.values, ds.longitude.values)
    got = to_canonical(out.compute())
    want = _reference().sel(member=layout["members"]).isel(time=layout["times"])
    for name in ("mean", "std", "quantiles"):
        x, y = got[name].transpose(*want[name].dims).values, want[name].values
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        np.testing.assert_allclose(x, y, **TOL)
