"""Prediction helpers: predictions put on one canonical layout, to compare grids given in other layouts."""

from __future__ import annotations

import xarray as xr

__all__ = ["to_canonical"]


def to_canonical(out: xr.Dataset) -> xr.Dataset:
    """``out`` with longitudes in [−180, 180) and latitude and longitude ascending."""
    lon = (out.longitude.values + 180.0) % 360.0 - 180.0
    return out.assign_coords(longitude=lon).sortby(["latitude", "longitude"])
