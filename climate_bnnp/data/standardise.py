"""One canonical schema for ERA5 data, whatever the source.

Canonical schema (what :func:`standardise` returns, lazily):

* dims exactly ``(time, latitude, longitude)``; ``time`` datetime64[ns] ascending, ``latitude`` ascending,
  ``longitude`` in [-180, 180) ascending; no ``number``/``expver``/``valid_time``/``time_index`` left;
* float32 data variables with CF attributes (``standard_name``, ``units``, ``long_name``):
  ``t2m`` (degC), ``tp`` (mm), and when present ``u10``/``v10`` (m s-1) and ``msl`` (hPa);
* ``tp`` is a total over one period ending at the valid time, recorded as the dataset attribute
  ``tp_period_hours`` and as ``tp.attrs["period_hours"]`` (int, hours), and per time step in the variable
  ``tp_period_hours`` (time,) int32:

  - ERA5 single levels (the bundled sample, ``reanalysis-era5-single-levels``) are 1-hour totals: 1;
  - ERA5-Land (``reanalysis-era5-land``) accumulates since 00 UTC (the 00 UTC field is the previous day's
    24 h total, a field at ``h`` UTC the 0..h UTC total). With ``tp_periods="consistent"`` (default) it is
    de-accumulated into totals over one period (:mod:`climate_bnnp.data.periods`): for 00/12 UTC data,
    12-hour totals (12 UTC as is; 00 UTC minus the previous day's 12 UTC; round-off below 0 clipped to 0);
    the first step of a series starting at 00 UTC (and any step whose predecessor is missing) is dropped,
    and the dropped times are listed in the attribute ``tp_dropped_times``. With
    ``tp_periods="raw_mixed_as_paper"`` the raw accumulations are kept (as the paper): the attributes say
    ``"mixed"`` and the per-time variable holds 24 at 00 UTC and ``h`` at ``h`` UTC, so periods are never
    mixed silently;
* NaN cells (ERA5-Land has no values over sea) are kept as NaN;
* dataset attributes ``source``, ``attribution``, ``tp_accumulation``, ``tp_period_hours``, ``tp_periods``
  and ``Conventions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from climate_bnnp.data.coords import COORD_NAMES, wrap_longitude
from climate_bnnp.data.periods import TP_PERIODS, deaccumulate_land, raw_period_hours
from climate_bnnp.data.sample import ERA5_ATTRIBUTION, ERA5_LAND_ATTRIBUTION, decode_time_index

__all__ = ["CANONICAL_DIMS", "SOURCES", "TP_PERIODS", "VARIABLES", "Variable", "standardise"]

CANONICAL_DIMS = ("time", "latitude", "longitude")

SOURCES = ("sample", "reanalysis-era5-single-levels", "reanalysis-era5-land")
"""Accepted ``source`` values: the bundled sample (ERA5 single levels) or a CDS dataset name."""


@dataclass(frozen=True)
class Variable:
    """An ERA5 variable as the stores keep it.

    Attributes:
        standard_name: its CF standard name. units: the canonical units the stores use.
        long_name: ERA5's long name. accepted_units: raw units accepted on input, each with the
            ``(scale, offset)`` that converts to ``units`` (``value * scale + offset``).
        valid_min: the smallest physical value (CF ``valid_min``; tp: 0 mm), or None when unbounded;
            predictions of the variable are clipped at it.
    """

    standard_name: str
    units: str
    long_name: str
    accepted_units: dict[str, tuple[float, float]]
    valid_min: float | None = None


_WIND_UNITS = {"m s**-1": (1.0, 0.0), "m s-1": (1.0, 0.0), "m/s": (1.0, 0.0)}
VARIABLES: dict[str, Variable] = {
    "t2m": Variable(
        "air_temperature", "degC", "2 metre temperature", {"K": (1.0, -273.15), "degC": (1.0, 0.0)}
    ),
    "tp": Variable(
        "precipitation_amount", "mm", "Total precipitation", {"m": (1000.0, 0.0), "mm": (1.0, 0.0)}, 0.0
    ),
    "u10": Variable("eastward_wind", "m s-1", "10 metre U wind component", _WIND_UNITS),
    "v10": Variable("northward_wind", "m s-1", "10 metre V wind component", _WIND_UNITS),
    "msl": Variable(
        "air_pressure_at_mean_sea_level",
        "hPa",
        "Mean sea level pressure",
        {"Pa": (0.01, 0.0), "hPa": (1.0, 0.0)},
    ),
}
"""The variables the data layer knows, by ERA5 short name."""

_RENAMES = {"valid_time": "time"} | {
    alias: axis for axis, names in COORD_NAMES.items() for alias in names[1:]
}

_ACCUMULATION = {
    "single-levels": (
        "tp is the 1-hour total ending at the valid time (ERA5 single levels; tp_period_hours = 1)."
    ),
    "land": (
        "tp is the {period}-hour total ending at the valid time (tp_period_hours = {period}), de-accumulated "
        "from ERA5-Land's accumulations since 00 UTC: at 00 UTC the previous day's 24 h total minus the "
        "previous day's last value; otherwise the value minus the one {period} h before on the same day (as "
        "is {period} h after 00 UTC); round-off below 0 clipped to 0; time steps whose predecessor is not in "
        "the data are dropped (tp_dropped_times)."
    ),
    "land-raw": (
        "tp is ERA5-Land's raw accumulation since 00 UTC (tp_periods = raw_mixed_as_paper, as the paper): "
        "the 00 UTC field is the previous day's 24 h total and a field at hour h > 0 is the 0..h UTC total, "
        "so periods are MIXED (tp_period_hours = 'mixed'); the variable tp_period_hours gives the period "
        "ending at each time."
    ),
}


def _kind(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(
            f"Unknown source {source!r}: expected one of {SOURCES} ('sample' for the bundled ERA5 sample, "
            "otherwise the CDS dataset name the file was downloaded from)."
        )
    return "land" if source == "reanalysis-era5-land" else "single-levels"


def _normalise_dims(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.rename({k: v for k, v in _RENAMES.items() if k in ds.variables or k in ds.dims})
    if "time" not in ds.dims and "time_index" in ds.dims:
        times = decode_time_index(ds["time_index"].values)
        ds = ds.rename({"time_index": "time"}).assign_coords(time=("time", times))
    if "number" in ds.dims:
        if ds.sizes["number"] != 1:
            raise ValueError(
                f"Expected one ensemble member (dim 'number' of size 1), got {ds.sizes['number']}; "
                "select one member first, e.g. ds.isel(number=0)."
            )
        ds = ds.isel(number=0)
    if "expver" in ds.dims:  # old CDS: ERA5 and ERA5T side by side; each time is valid in one of them
        merged = ds.isel(expver=0)
        for k in range(1, ds.sizes["expver"]):
            merged = merged.fillna(ds.isel(expver=k))
        ds = merged
    return ds.drop_vars([c for c in ("number", "expver", "time_index") if c in ds.coords])


def _check_coords(ds: xr.Dataset) -> None:
    for name in CANONICAL_DIMS:
        if name not in ds.coords:
            raise ValueError(
                f"Expected a coordinate {name!r} (or valid_time/lat/lon), "
                f"got coordinates {sorted(map(str, ds.coords))}; "
                "pass an ERA5 dataset from open_sample() or a CDS netCDF file."
            )
    for name, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 360.0)):
        if ds.sizes.get(name, 1) == 0:
            raise ValueError(
                f"The region is empty ({name!r} has size 0); expected at least one cell. Check the crop: "
                "sel(latitude=slice(a, b)) follows the coordinate's order (descending latitudes need a > b)."
            )
        values = np.asarray(ds[name].values, dtype=np.float64)
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            raise ValueError(
                f"{name!r} has values outside [{low:g}, {high:g}] (e.g. {float(values[bad][0])!r}); expected "
                "degrees. Fix the coordinate's units or drop those cells."
            )
    times = ds["time"].values
    if not np.issubdtype(times.dtype, np.datetime64):
        raise ValueError(f"Expected datetime64 'time' values, got dtype {times.dtype}; decode times first.")
    if pd.Index(times).has_duplicates:
        raise ValueError("The 'time' coordinate has duplicate values; drop them before standardising.")


def _sort_grid(ds: xr.Dataset) -> xr.Dataset:
    lat = ds["latitude"].values
    if lat.size > 1 and np.all(np.diff(lat) < 0):
        ds = ds.isel(latitude=slice(None, None, -1))
    elif not np.all(np.diff(lat) > 0):
        ds = ds.sortby("latitude")
    lon = wrap_longitude(ds["longitude"].values)
    if pd.Index(lon).has_duplicates:
        raise ValueError(
            "Longitudes collide after wrapping into [-180, 180) (e.g. both -180 and 180 present); "
            "drop the duplicated column first."
        )
    ds = ds.assign_coords(longitude=("longitude", lon))
    if not np.all(np.diff(lon) > 0):
        ds = ds.sortby("longitude")
    if not np.all(np.diff(ds["time"].values) > np.timedelta64(0, "ns")):
        ds = ds.sortby("time")
    return ds


def standardise(
    ds: xr.Dataset,
    *,
    source: str,
    required: Sequence[str] = ("t2m", "tp"),
    tp_periods: str = "consistent",
) -> xr.Dataset:
    """Bring a raw ERA5 dataset to the canonical schema (see the module docstring), lazily.

    Args:
        ds: raw dataset: the output of :func:`~climate_bnnp.data.sample.open_sample` (or the raw store with
            ``time_index``), or a CDS netCDF (old or new format: ``valid_time``, ``number``, ``expver``).
        source: one of :data:`SOURCES`; fixes the accumulation period of ``tp`` and the attribution.
        required: variables that must be present; other known variables (:data:`VARIABLES`) are kept
            when present and unknown ones are dropped.
        tp_periods: one of :data:`TP_PERIODS`. ``"consistent"``: ERA5-Land ``tp`` becomes totals over one
            period (12 h for 00/12 UTC data; the first 00 UTC step, having no preceding 12 UTC, is dropped).
            ``"raw_mixed_as_paper"``: ERA5-Land ``tp`` stays the raw accumulation since 00 UTC (24 h totals
            at 00 UTC, 12 h at 12 UTC, as the paper) and the period is recorded as ``"mixed"``. ERA5
            single levels are 1-hour totals either way.

    Returns:
        Dataset with dims (time, latitude, longitude), float32 variables in canonical units with CF
        attributes, and ``tp_period_hours`` (time,) when ``tp`` is present. Nothing is computed.

    Raises:
        ValueError: unknown source or ``tp_periods``, missing variables, unexpected dims, unsupported
            units, or ERA5-Land valid hours that admit no consistent period
            (:func:`~climate_bnnp.data.periods.land_period_hours`).
    """
    kind = _kind(source)
    if tp_periods not in TP_PERIODS:
        raise ValueError(
            f"Unknown tp_periods {tp_periods!r}: expected one of {TP_PERIODS} ('consistent': ERA5-Land tp as "
            "totals over one period; 'raw_mixed_as_paper': the raw accumulations, as the paper)."
        )
    ds = _normalise_dims(ds)
    missing = [v for v in required if v not in ds.data_vars]
    if missing:
        raise ValueError(
            f"Missing variables {missing}: expected {list(required)}, got {sorted(map(str, ds.data_vars))}; "
            "request them from the CDS (e.g. '2m_temperature', 'total_precipitation') or lower `required`."
        )
    names = [v for v in VARIABLES if v in ds.data_vars]
    for name in names:
        if set(ds[name].dims) != set(CANONICAL_DIMS):
            raise ValueError(
                f"Variable {name!r} has dims {ds[name].dims}; expected {CANONICAL_DIMS} (after renaming "
                "valid_time -> time and dropping a size-1 'number'). Select or reduce the extra dims first."
            )
    _check_coords(ds)
    ds = _sort_grid(ds[names])
    out = xr.Dataset(coords={c: ds[c] for c in CANONICAL_DIMS})
    for name in names:
        var = VARIABLES[name]
        raw_units = str(ds[name].attrs.get("units", "<none>"))
        if raw_units not in var.accepted_units:
            raise ValueError(
                f"Variable {name!r} has units {raw_units!r}; expected one of {sorted(var.accepted_units)}. "
                f"Fix the 'units' attribute if the values really are in one of these units."
            )
        scale, offset = var.accepted_units[raw_units]
        values = ds[name].transpose(*CANONICAL_DIMS).astype("float32")
        if scale != 1.0:
            values = values * np.float32(scale)
        if offset != 0.0:
            values = values + np.float32(offset)
        values = values.astype("float32")
        values.attrs = {"standard_name": var.standard_name, "units": var.units, "long_name": var.long_name}
        values.encoding = {}  # drop the reader's encoding (chunks, _FillValue...) of the raw file
        out[name] = values  # attrs replaced, not merged: no raw GRIB/source attributes leak through
    period_attrs: dict[str, object] = {}
    if "tp" in out:
        out, period_attrs = _tp_periods(out, kind=kind, tp_periods=tp_periods)
    out["time"].attrs = {"standard_name": "time", "long_name": "valid time"}
    out["latitude"].attrs = {"standard_name": "latitude", "units": "degrees_north"}
    out["longitude"].attrs = {"standard_name": "longitude", "units": "degrees_east"}
    attribution = ERA5_LAND_ATTRIBUTION if kind == "land" else ERA5_ATTRIBUTION
    out.attrs = {
        "source": source,
        "attribution": attribution,
        "tp_accumulation": period_attrs.pop("tp_accumulation", "no tp"),
        **period_attrs,
        "Conventions": "CF-1.8",
    }
    if "provenance" in ds.attrs or source == "sample":
        from climate_bnnp.data.sample import SAMPLE_PROVENANCE

        out.attrs["provenance"] = str(ds.attrs.get("provenance", SAMPLE_PROVENANCE))
    return out


def _tp_periods(out: xr.Dataset, *, kind: str, tp_periods: str) -> tuple[xr.Dataset, dict[str, object]]:
    """Bring ``tp`` (mm) to the requested periods; record them (attributes and per-time variable).

    Returns the dataset (fewer time steps when ERA5-Land steps are dropped) and the dataset attributes.
    """
    dropped: list[str] = []
    if kind == "land" and tp_periods == "consistent":
        totals, keep, period = deaccumulate_land(out["tp"])
        dropped = [str(t)[:19] for t in out["time"].values[~keep]]
        if not keep.all():
            kept = np.flatnonzero(keep)
            contiguous = kept.size == kept[-1] - kept[0] + 1
            out = out.isel(time=slice(int(kept[0]), int(kept[-1]) + 1) if contiguous else kept)
        out["tp"] = totals
        per_time = np.full(out.sizes["time"], period, dtype="int32")
        recorded: int | str = period
        text = _ACCUMULATION["land"].format(period=period)
    elif kind == "land":
        per_time = raw_period_hours(out["time"].values, land=True)
        recorded = "mixed"
        text = _ACCUMULATION["land-raw"]
    else:
        per_time = raw_period_hours(out["time"].values, land=False)
        recorded = 1
        text = _ACCUMULATION["single-levels"]
    out["tp"].attrs = {
        **out["tp"].attrs,
        "cell_methods": "time: sum",
        "period_hours": recorded,
        "accumulation": text,
    }
    out["tp_period_hours"] = xr.DataArray(
        per_time,
        dims=("time",),
        attrs={"units": "h", "long_name": "accumulation period of tp ending at time"},
    )
    attrs: dict[str, object] = {
        "tp_accumulation": text,
        "tp_period_hours": recorded,
        "tp_periods": tp_periods,
    }
    if kind == "land" and tp_periods == "consistent":
        attrs["tp_dropped_times"] = ", ".join(dropped) if dropped else "none"
    return out, attrs
