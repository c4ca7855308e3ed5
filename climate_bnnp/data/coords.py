"""Latitude/longitude conventions shared by the data steps, ``predict`` and the maps.

Coordinates may be called ``latitude``/``longitude`` (ERA5, the stores) or ``lat``/``lon`` (many other
products); longitudes may run over [0, 360) or [-180, 180). The stores use ``latitude``/``longitude`` and
[-180, 180).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr

__all__ = ["COORD_NAMES", "coord_name", "wrap_longitude"]

COORD_NAMES: dict[str, tuple[str, ...]] = {"latitude": ("latitude", "lat"), "longitude": ("longitude", "lon")}
"""Accepted names per axis, the canonical one first."""


def wrap_longitude(lon: Any) -> np.ndarray:
    """Longitudes in degrees mapped to [-180, 180) (the stores' convention)."""
    return (np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0


def coord_name(
    obj: xr.Dataset | xr.DataArray,
    axis: Literal["latitude", "longitude"],
    *,
    among: Literal["coords", "dims"] = "coords",
    label: str = "ds",
) -> str:
    """The name ``obj`` uses for ``axis``: the first of :data:`COORD_NAMES` ``[axis]`` among its coordinates
    (or its dimensions).

    Raises:
        ValueError: none of the accepted names is present; the message says how to rename.
    """
    names = COORD_NAMES[axis]
    present = obj.coords if among == "coords" else obj.dims
    for name in names:
        if name in present:
            return name
    what = "coordinate" if among == "coords" else "dimension"
    raise ValueError(
        f"{label}: expected a {axis} {what} named one of {list(names)}, got {what}s "
        f"{sorted(map(str, present))}; rename yours, e.g. ds.rename(y='latitude', x='longitude')."
    )
