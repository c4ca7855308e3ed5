"""Precipitation periods: ERA5-Land accumulations since 00 UTC -> totals over one consistent period.

ERA5-Land's ``tp`` at valid time ``t`` is accumulated since the last 00 UTC *before* ``t``: the 00 UTC
field is the total of the whole previous day (24 h), a field at hour ``h > 0`` is the total from 00 UTC
to ``h`` UTC of the same day. Training on these raw values mixes 24-hour and ``h``-hour totals (as the
paper did). :func:`deaccumulate_land` turns them into totals over one period ``P`` ending at each valid
time, for valid hours evenly spaced over the day from 00 UTC, ``{0, P, 2P, ...}`` (``P`` = 24 / number of
hours: 00 and 12 UTC give ``P = 12``):

* ``h = P``: the value as it is (accumulated since 00 UTC, i.e. over exactly ``P`` hours);
* ``h > P``: ``tp(h) - tp(h - P)`` of the same day;
* ``h = 0``: ``tp(00 UTC, day D) - tp(24 - P UTC, day D - 1)`` (for 00/12 UTC: the 24-hour total minus
  the previous day's 12 UTC value); with ``P = 24`` (00 UTC only) the value as it is;
* a time step that needs its predecessor ``t - P`` but whose predecessor is not in the data (the first
  step of a series starting at 00 UTC, or a step after a gap) is **dropped**, for all variables: its
  total over ``P`` hours cannot be known;
* round-off below zero is clipped to 0; NaN cells (sea) stay NaN.

Everything stays lazy (dask): only the time coordinate is read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["TP_PERIODS", "deaccumulate_land", "land_period_hours", "raw_period_hours"]

TP_PERIODS = ("consistent", "raw_mixed_as_paper")
"""``consistent``: ERA5-Land ``tp`` becomes totals over one period (see the module docstring);
``raw_mixed_as_paper``: the raw accumulations are kept, mixing periods as the paper did."""


def raw_period_hours(times: np.ndarray, *, land: bool) -> np.ndarray:
    """Accumulation period of the *raw* ``tp`` ending at each valid time, in hours.

    Args:
        times: datetime64 valid times, shape (T,).
        land: True for ERA5-Land (accumulated since 00 UTC), False for ERA5 single levels (1-hourly).

    Returns:
        int32 array (T,): 1 everywhere for single levels; for ERA5-Land 24 at 00 UTC and ``h`` at ``h`` UTC.
    """
    if not land:
        return np.ones(np.shape(times), dtype="int32")
    hours = pd.DatetimeIndex(np.asarray(times)).hour.to_numpy()
    return np.where(hours == 0, 24, hours).astype("int32")


def land_period_hours(times: np.ndarray) -> int:
    """The consistent period ``P`` (hours) of ERA5-Land valid times, checking that one exists.

    Args:
        times: datetime64 valid times, shape (T,), T >= 1.

    Returns:
        ``P = 24 / n`` when the valid hours are exactly ``{0, P, 2P, ...}`` (n of them) and every time is
        on the hour: 12 for 00/12 UTC, 24 for 00 UTC only, 1 for hourly data.

    Raises:
        ValueError: times not on the hour, or hours not evenly spaced from 00 UTC; the message names the
            hours got and what is supported.
    """
    index = pd.DatetimeIndex(np.asarray(times))
    if index.size == 0:
        raise ValueError("No time steps: expected at least one ERA5-Land valid time.")
    off_hour = index[(index.minute != 0) | (index.second != 0) | (index.nanosecond != 0)]
    if off_hour.size:
        raise ValueError(
            f"ERA5-Land valid times must be on the hour; got {[str(t) for t in off_hour[:3]]}. "
            "Select whole-hour times first."
        )
    hours = sorted({int(h) for h in index.hour})
    n = len(hours)
    if 24 % n == 0 and hours == list(range(0, 24, 24 // n)):
        return 24 // n
    raise ValueError(
        f"ERA5-Land tp can be turned into totals over one period only when the valid hours are evenly "
        f"spaced over the day from 00 UTC (00 and 12 UTC: 12-hour totals; 00, 06, 12, 18 UTC: 6-hour; "
        f"00 UTC only: 24-hour; hourly: 1-hour); got hours {[f'{h:02d}' for h in hours]} UTC. "
        "Download such times, or keep the raw accumulations with data.tp_periods: raw_mixed_as_paper "
        "(standardise(..., tp_periods='raw_mixed_as_paper'))."
    )


def deaccumulate_land(tp: xr.DataArray) -> tuple[xr.DataArray, np.ndarray, int]:
    """ERA5-Land ``tp`` accumulated since 00 UTC -> totals over one period ending at each valid time.

    The rule is in the module docstring. Lazy: a dask-backed input gives a dask-backed output.

    Args:
        tp: accumulations, dims ``(time, ...)``, ``time`` ascending and unique (datetime64).

    Returns:
        ``(totals, keep, period)``: the totals at the kept times (same dims, dtype of ``tp``), the boolean
        mask ``keep (T,)`` of kept time steps (apply it to the other variables), and the period in hours.

    Raises:
        ValueError: unsupported valid hours (:func:`land_period_hours`).
    """
    times = tp["time"].values
    period = land_period_hours(times)
    hours = pd.DatetimeIndex(times).hour.to_numpy()
    # steps whose total is their value minus the predecessor's (t - P): all but h = P (none for P = 24)
    needs = np.zeros(times.shape, dtype=bool) if period == 24 else hours != period  # (T,)
    has_prev = np.zeros(times.shape, dtype=bool)  # (T,): the step t - P is the previous one in the data
    has_prev[1:] = (times[1:] - times[:-1]) == np.timedelta64(period, "h")
    keep = ~needs | has_prev  # (T,)
    # never empty: the supported hour sets contain P, and steps at h = P (all steps if P = 24) are kept
    previous = tp.shift(time=1)  # lazy; NaN at the first step, which is either dropped or not needed
    subtract = previous.where(xr.DataArray(needs, dims=("time",), coords={"time": tp["time"]}), 0)
    totals = (tp - subtract).clip(min=0).astype(tp.dtype)  # NaN stays NaN; round-off < 0 -> 0
    kept = np.flatnonzero(keep)
    if kept.size == kept[-1] - kept[0] + 1:  # contiguous (the usual case: only the first step dropped)
        totals = totals.isel(time=slice(int(kept[0]), int(kept[-1]) + 1))
    else:
        totals = totals.isel(time=kept)
    return totals, keep, period
