"""Seam-free large regions: a region predicted tile by tile equals the region predicted at once.

The region is one task (all its observed cells are the context, streamed in within-task minibatches); tiles
only split the *targets*, decoded with the same weight draws. Stated bound: across every tile boundary the
jump between neighbouring cells of the stitched map differs from the untiled map's jump by at most
``MAX_JUMP_EXCESS_MM`` (float64 summation order only). A naive tiling that treats each tile as its own task
(context inside the tile only) shows seams far above that bound, so the check can fail.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from pred_helpers import make_grid, schema_of

from climate_bnnp import predict

MAX_JUMP_EXCESS_MM = 1e-9
TILE = 6  # cells per tile edge


def _run(model, normaliser, ds, **kw):
    return predict(model, ds, schema=schema_of(normaliser), num_samples=16, predict_at="all", **kw)


def _excess(stitched: np.ndarray, whole: np.ndarray) -> float:
    """Largest |jump_stitched - jump_whole| across the tile boundaries (along latitude and longitude)."""
    worst = 0.0
    for axis in (0, 1):
        for edge in range(TILE, stitched.shape[axis], TILE):
            a = np.take(stitched, edge, axis) - np.take(stitched, edge - 1, axis)
            b = np.take(whole, edge, axis) - np.take(whole, edge - 1, axis)
            worst = max(worst, float(np.nanmax(np.abs(a - b))))
    return worst


def _tiles(ds: xr.Dataset):
    for i in range(0, ds.sizes["latitude"], TILE):
        for j in range(0, ds.sizes["longitude"], TILE):
            yield {"latitude": slice(i, i + TILE), "longitude": slice(j, j + TILE)}


def test_tiled_equals_untiled_across_boundaries(model, normaliser):
    ds = make_grid(n_lat=18, n_lon=24, times=make_grid().time.values[:1], observed=0.25)
    whole = _run(model, normaliser, ds, context_chunk_size=50).isel(time=0)
    stitched = {name: np.full(whole[name].shape, np.nan) for name in ("mean", "std")}
    naive = np.full(whole["mean"].shape, np.nan)
    for where in _tiles(ds):
        tile = ds.isel(where)
        part = _run(model, normaliser, ds, targets=tile[["t2m"]], context_chunk_size=50).isel(time=0)
        alone = _run(model, normaliser, tile, context_chunk_size=50).isel(time=0)  # tile as its own task
        for name in stitched:
            stitched[name][where["latitude"], where["longitude"]] = part[name].values
        naive[where["latitude"], where["longitude"]] = alone["mean"].values
    for name in stitched:
        assert _excess(stitched[name], whole[name].values) <= MAX_JUMP_EXCESS_MM
    # dask chunks as tiles: the same
    lazy = _run(model, normaliser, ds.chunk({"latitude": TILE, "longitude": TILE})).isel(time=0).compute()
    assert _excess(lazy["mean"].values, whole["mean"].values) <= MAX_JUMP_EXCESS_MM
    # the naive per-tile tasks do show seams: the check is sensitive
    assert _excess(naive, whole["mean"].values) > 1e3 * MAX_JUMP_EXCESS_MM
