"""A task's draws follow its coordinate values, not the order of the task dims nor its position."""

from __future__ import annotations

import numpy as np
import xarray as xr
from pred_helpers import schema_of

from climate_bnnp import predict


def _members(grid: xr.Dataset) -> xr.Dataset:
    """Two task dims, time and member (three perturbed copies of the grid's t2m)."""
    copies = [grid.assign(t2m=grid.t2m + offset) for offset in (0.0, 0.7, -1.3)]
    return xr.concat(copies, dim="member").assign_coords(member=[10, 20, 30])


def _samples(model, normaliser, ds):
    out = predict(model, ds, schema=schema_of(normaliser), num_samples=6, seed=5, return_samples=True)
    return out["samples"]


def test_transposed_task_dims_give_the_same_draws(model, normaliser, grid):
    ds = _members(grid)
    a = _samples(model, normaliser, ds.transpose("time", "member", "latitude", "longitude"))
    b = _samples(model, normaliser, ds.transpose("member", "time", "latitude", "longitude"))
    assert a.dims != b.dims  # the task dims really come in the other order
    np.testing.assert_array_equal(a.transpose(*b.dims).values, b.values)
    # the oracle of "keyed by values": one task alone (another position, the same coordinates) draws the same
    one = _samples(model, normaliser, ds.isel(member=[2], time=[1]))
    np.testing.assert_array_equal(one.values.squeeze(), a.sel(member=[30]).isel(time=[1]).values.squeeze())
    # and the draws differ between tasks (the seed is not constant)
    assert not np.allclose(a.isel(member=0).values, a.isel(member=1).values, equal_nan=True)
