"""Checking the user's Dataset and finding its layout (xarray only; nothing is computed).

Two spatial layouts are understood:

* **grid**: 1-D dimension coordinates ``latitude`` and ``longitude`` (or ``lat``/``lon``), in either
  order, latitude ascending or descending, longitudes 0–360 or −180–180;
* **points**: ``latitude`` and ``longitude`` coordinates along one shared dimension (e.g. ``station``).

Every other dimension of the target variable (e.g. ``time``) is a *task* dimension: each index along
them is predicted as its own task, with its own context and its own weight draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..data import InputSchema
from ..data.coords import coord_name, wrap_longitude
from ..data.standardise import VARIABLES

__all__ = [
    "INTERPOLATION_METHODS",
    "RANGE_SIGMAS",
    "Layout",
    "check_task_dims",
    "check_training_range",
    "check_units",
    "check_variables",
    "find_layout",
    "interpolate_to",
    "one_range_warning",
    "range_excess",
]

RANGE_SIGMAS = 6.0
"""Inputs further than this many training standard deviations from the training mean trigger a warning."""
"""Likelihoods whose support is unbounded above: a large target value (heavy rain) is no extrapolation."""

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


def range_excess(
    schema: InputSchema, values: Mapping[str, np.ndarray], *, unbounded_above: bool
) -> dict[str, float]:
    """The variables of one task's context that leave the training range, with how far they go.

    A value leaves the range when it lies more than :data:`RANGE_SIGMAS` training standard deviations (in
    the normaliser's units, after the target transform) from the training mean. The target is only
    checked *below* the range when the likelihood's support is unbounded above (``unbounded_above``):
    heavy rain is in the support of a Gaussian or Bernoulli–Gamma model, and the schema records the
    training mean and spread, not the training maximum.

    Args:
        schema: the model's input schema (normaliser, target name).
        values: name -> the context values of that variable, ``(Nc,)``, in physical units.
        unbounded_above: whether the likelihood's support is unbounded above (its
            :attr:`~climate_bnnp.likelihoods.predictive.PredictiveLikelihood.unbounded_above`).

    Returns:
        name -> the largest distance in training standard deviations, for each variable beyond the range.
    """
    out = {}
    for name, v in values.items():
        if name not in schema.normaliser.mean or v.size == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.asarray(schema.normaliser.forward(name, v), dtype=np.float64)  # (Nc,)
        if name == schema.target and unbounded_above:
            z = -z  # only values below the training range count
        else:
            z = np.abs(z)
        z = z[np.isfinite(z)]
        worst = float(z.max()) if z.size else 0.0
        if worst > RANGE_SIGMAS:
            out[name] = worst
    return out


@dataclass
class _RangeTally:
    """Range excesses collected over the tasks of one call."""

    tasks: int = 0
    tasks_by_name: dict[str, int] = field(default_factory=dict)
    worst_by_name: dict[str, float] = field(default_factory=dict)

    def add(self, excess: Mapping[str, float]) -> None:
        self.tasks += 1
        for name, worst in excess.items():
            self.tasks_by_name[name] = self.tasks_by_name.get(name, 0) + 1
            self.worst_by_name[name] = max(self.worst_by_name.get(name, 0.0), worst)


_TALLY: ContextVar[_RangeTally | None] = ContextVar("climate_bnnp_range_tally", default=None)


def _range_message(label: str, tally: _RangeTally) -> str:
    parts = [
        f"{name} reaches {tally.worst_by_name[name]:.1f} training standard deviations from its training mean "
        f"in {count} of {tally.tasks} task{'s' if tally.tasks != 1 else ''}"
        for name, count in sorted(tally.tasks_by_name.items())
    ]
    return (
        f"{label}: " + "; ".join(parts) + f" (more than {RANGE_SIGMAS:g}); the model extrapolates there and "
        "its uncertainty may be off."
    )


def check_training_range(
    schema: InputSchema, values: Mapping[str, np.ndarray], *, unbounded_above: bool, label: str
) -> None:
    """Check one task's context against the training range (see :func:`range_excess`).

    Inside :func:`one_range_warning` the result is only counted; elsewhere (a lazy prediction computed
    later) a task beyond the range warns on its own.

    Warns:
        UserWarning: outside :func:`one_range_warning`, naming the variables and how far they go.
    """
    excess = range_excess(schema, values, unbounded_above=unbounded_above)
    tally = _TALLY.get()
    if tally is not None:
        tally.add(excess)
        return
    if excess:
        single = _RangeTally()
        single.add(excess)
        warnings.warn(_range_message(label, single), UserWarning, stacklevel=2)


@contextmanager
def one_range_warning(label: str = "predict") -> Iterator[None]:
    """Collect the training-range checks of every task computed inside, then warn once with the counts.

    Warns:
        UserWarning: on a normal exit, when any task left the training range: one warning naming each
            variable, in how many of the tasks it left the range and how far it went.
    """
    tally = _RangeTally()
    token = _TALLY.set(tally)
    try:
        yield
    finally:
        _TALLY.reset(token)
    if tally.tasks_by_name:
        warnings.warn(_range_message(label, tally), UserWarning, stacklevel=3)
