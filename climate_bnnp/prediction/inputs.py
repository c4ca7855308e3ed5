"""Checking the user's Dataset and finding its layout (xarray only; nothing is computed).

Two spatial layouts are understood:

* **grid**: 1-D dimension coordinates ``latitude`` and ``longitude`` (or ``lat``/``lon``), in either
  order, latitude ascending or descending, longitudes 0–360 or −180–180;
* **points**: ``latitude`` and ``longitude`` coordinates along one shared dimension (e.g. ``station``).

Every other dimension of the target variable (e.g. ``time``) is a *task* dimension: each index along
them is predicted as its own task, with its own context and its own weight draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..data.coords import coord_name, wrap_longitude
from ..data.standardise import VARIABLES

__all__ = [
    "INTERPOLATION_METHODS",
    "Layout",
    "check_task_dims",
    "check_units",
    "check_variables",
    "find_layout",
    "interpolate_to",
]

INTERPOLATION_METHODS = ("linear", "nearest")
"""How covariates are interpolated from the context grid to target points (``xarray.Dataset.interp``)."""

_UNIT_ALIASES = {"millimetres": "mm", "millimeters": "mm", "degree_Celsius": "degC", "celsius": "degC"}


@dataclass(frozen=True)
class Layout:
    """Where a Dataset keeps its locations.

    Attributes:
        kind: ``"grid"`` or ``"points"``.
        lat, lon: names of the latitude and longitude coordinates.
        spatial_dims: ``(lat_dim, lon_dim)`` for a grid, ``(point_dim,)`` for points.
    """

    kind: str
    lat: str
    lon: str
    spatial_dims: tuple[str, ...]


def find_layout(ds: xr.Dataset, label: str = "ds") -> Layout:
    """Detect the grid or points layout of ``ds``.

    Raises:
        ValueError: no latitude/longitude coordinates, or coordinates that are neither a grid nor points.
    """
    lat, lon = coord_name(ds, "latitude", label=label), coord_name(ds, "longitude", label=label)
    lat_dims, lon_dims = ds[lat].dims, ds[lon].dims
    if lat_dims == (lat,) and lon_dims == (lon,):
        return _check_locations(ds, Layout("grid", lat, lon, (lat, lon)), label)
    if len(lat_dims) == 1 and lat_dims == lon_dims:
        return _check_locations(ds, Layout("points", lat, lon, lat_dims), label)
    raise ValueError(
        f"{label}: {lat!r} has dims {lat_dims} and {lon!r} has dims {lon_dims}; expected a grid (each its "
        "own 1-D dimension coordinate) or points (both along one dimension such as 'station')."
    )


def _check_locations(ds: xr.Dataset, layout: Layout, label: str) -> Layout:
    """A non-empty region with finite, in-range coordinates (grid lines once each); dask coords skipped."""
    for dim in layout.spatial_dims:
        if ds.sizes[dim] == 0:
            raise ValueError(
                f"{label}: the region is empty ({dim!r} has size 0); expected at least one cell. Check the "
                "crop: ds.sel(latitude=slice(a, b)) follows the coordinate's order (descending latitudes "
                "need a > b)."
            )
    for name, low, high in ((layout.lat, -90.0, 90.0), (layout.lon, -180.0, 360.0)):
        if ds[name].chunks is not None:
            continue
        values = np.asarray(ds[name].values, dtype=np.float64)
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            raise ValueError(
                f"{label}: {name!r} has values outside [{low:g}, {high:g}] (e.g. {float(values[bad][0])!r}); "
                "expected degrees (latitude in [-90, 90], longitude in [-180, 180) or [0, 360)). Fix the "
                "coordinate's units or drop those cells."
            )
        if layout.kind == "grid" and np.unique(values).size != values.size:
            raise ValueError(
                f"{label}: {name!r} has duplicated values; expected each grid line once. Drop them first, "
                f"e.g. ds.drop_duplicates({name!r})."
            )
    return layout


def check_task_dims(ds: xr.Dataset, task_dims: Sequence[str], label: str = "ds") -> None:
    """Each task needs its own coordinate value (it seeds the task's draws and labels its output).

    Raises:
        ValueError: a task dim (e.g. ``time``) with duplicated coordinate values.
    """
    for dim in task_dims:
        if dim in ds.indexes and not ds.indexes[dim].is_unique:
            raise ValueError(
                f"{label}: {dim!r} has duplicated values; expected each {dim} once (one task each). Drop "
                f"them first, e.g. ds.drop_duplicates({dim!r})."
            )


def check_units(da: xr.DataArray, name: str, label: str = "ds") -> None:
    """Check the ``units`` attribute of a known ERA5 variable against the canonical units.

    The canonical units are those of :func:`climate_bnnp.data.standardise` (tp in mm, t2m in degC, ...),
    which the model was trained on. Variables the data layer does not know are not checked.

    Raises:
        ValueError: missing or wrong units, naming the conversion to apply.
    """
    if name not in VARIABLES:
        return
    var = VARIABLES[name]
    expected, long_name, accepted = var.units, var.long_name, var.accepted_units
    units = da.attrs.get("units")
    if units is None:
        raise ValueError(
            f"{label}[{name!r}] has no 'units' attribute; expected {expected!r} ({long_name}). "
            f"Set it, e.g. ds[{name!r}].attrs['units'] = {expected!r}, after checking the values are in "
            f"{expected}."
        )
    units = _UNIT_ALIASES.get(str(units), str(units))
    if units == expected:
        return
    hint = ""
    if str(units) in accepted:
        scale, offset = accepted[str(units)]
        hint = f" Convert with ds[{name!r}] = ds[{name!r}] * {scale:g}" + (f" + {offset:g}" if offset else "")
        hint += f" and set attrs['units'] = {expected!r} (or run climate_bnnp.data.standardise)."
    raise ValueError(
        f"{label}[{name!r}] has units {units!r}, but the model expects {expected!r} ({long_name}).{hint}"
    )


def check_variables(
    ds: xr.Dataset, names: Sequence[str], layout: Layout, *, label: str = "ds", role: str = "covariate"
) -> None:
    """Check that each variable exists, has units the model expects, and lies on ``ds``'s locations.

    Raises:
        ValueError: a missing variable, wrong units, or a variable on other spatial dims (a mismatched grid).
    """
    for name in names:
        if name not in ds.data_vars:
            raise ValueError(
                f"{label} lacks the {role} {name!r} the model needs; "
                f"it has {sorted(map(str, ds.data_vars))}. "
                f"Add {name!r} (in {VARIABLES[name].units if name in VARIABLES else 'training'} units) "
                "on the same grid as the target."
            )
        missing = [d for d in layout.spatial_dims if d not in ds[name].dims]
        if missing:
            raise ValueError(
                f"mismatched grids: {label}[{name!r}] has dims {ds[name].dims}, but the locations of {label} "
                f"are on dims {layout.spatial_dims}; put all variables on one grid first (e.g. with "
                "ds[name].interp_like(ds[target]) or xr.align)."
            )
        check_units(ds[name], name, label)


def interpolate_to(
    ds: xr.Dataset, names: Sequence[str], layout: Layout, lat: xr.DataArray, lon: xr.DataArray, method: str
) -> xr.Dataset:
    """Interpolate grid variables to target locations, lazily (``xarray.Dataset.interp``).

    The grid is sorted to ascending latitude/longitude and the target longitudes are brought into the
    grid's convention (0–360 or −180–180). ``method="linear"`` is bilinear in (latitude, longitude)
    degrees; targets outside the grid's coordinate range (including across its longitude seam) get NaN,
    i.e. they are outside the domain.

    Raises:
        ValueError: ``ds`` is not a grid, or an unknown method.
    """
    if method not in INTERPOLATION_METHODS:
        raise ValueError(f"interpolation must be one of {INTERPOLATION_METHODS}, got {method!r}.")
    if layout.kind != "grid":
        raise ValueError(
            "covariates can only be interpolated from a grid; the context Dataset holds points. Give the "
            "covariates at the target locations as variables of `targets`."
        )
    grid = ds[list(names)]
    grid_lon = np.asarray(grid[layout.lon].values, dtype=np.float64)
    lon_values = wrap_longitude(lon.values)
    lon_values = lon_values % 360.0 if grid_lon.max() > 180.0 else lon_values
    lat = xr.DataArray(np.asarray(lat, np.float64), dims=lat.dims)
    lon = xr.DataArray(lon_values, dims=lon.dims)
    grid = grid.sortby([layout.lat, layout.lon])
    out = grid.interp({layout.lat: lat, layout.lon: lon}, method=method)
    return out.drop_vars([layout.lat, layout.lon], errors="ignore")
