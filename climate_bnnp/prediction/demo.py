"""Small helpers the notebooks use to set up a prediction (xarray/numpy only; no training here).

* :func:`sparse_observations`: hide all but a random fraction of a field (optionally none inside a held-out
  country), giving the "sparse observations" Dataset a user would bring to :func:`climate_bnnp.predict`;
* :func:`context_locations`: latitude/longitude of the observed cells, for the context panel of a map.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data import country_mask

__all__ = ["context_locations", "held_out_mask", "sparse_observations"]


def held_out_mask(
    ds: xr.Dataset, country: str, *, bbox: tuple[float, float, float, float] | None = None
) -> xr.DataArray:
    """Boolean (latitude, longitude) mask of the cells inside a Natural Earth country, on ``ds``'s grid."""
    lat, lon = ds["latitude"].values, ds["longitude"].values
    mask = country_mask(lat, lon, country, bbox=bbox)  # (n_lat, n_lon)
    return xr.DataArray(
        mask, dims=("latitude", "longitude"), coords={"latitude": lat, "longitude": lon}, name=country
    )


def sparse_observations(
    ds: xr.Dataset,
    *,
    fraction: float,
    seed: int = 0,
    target: str = "tp",
    held_out: xr.DataArray | None = None,
) -> xr.Dataset:
    """Keep ``target`` at a random ``fraction`` of the cells (NaN elsewhere); never inside ``held_out``.

    The same cells are observed at every time step. Covariates are left untouched.

    Args:
        ds: Dataset with ``target`` on (..., latitude, longitude).
        fraction: share of the cells to keep, in (0, 1].
        seed: seed of the numpy Generator choosing the cells.
        held_out: optional boolean (latitude, longitude) mask of a region without observations.

    Raises:
        ValueError: ``fraction`` outside (0, 1].
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}.")
    shape = (ds.sizes["latitude"], ds.sizes["longitude"])
    keep = np.random.default_rng(seed).random(shape) < fraction  # (n_lat, n_lon)
    keep = xr.DataArray(
        keep, dims=("latitude", "longitude"), coords={"latitude": ds.latitude, "longitude": ds.longitude}
    )
    if held_out is not None:
        keep = keep & ~held_out.astype(bool)
    out = ds.copy()
    out[target] = ds[target].where(keep)
    return out


def context_locations(ds: xr.Dataset, target: str = "tp") -> tuple[np.ndarray, np.ndarray]:
    """``(lat, lon)`` of the cells where ``target`` is observed (a 2-D latitude/longitude field)."""
    field = ds[target]
    if field.ndim != 2:
        raise ValueError(f"context_locations needs one (latitude, longitude) field; got dims {field.dims}.")
    field = field.transpose("latitude", "longitude")
    rows, cols = np.nonzero(np.isfinite(field.values))
    return ds["latitude"].values[rows], ds["longitude"].values[cols]
