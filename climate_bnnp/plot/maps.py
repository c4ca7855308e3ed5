"""Single maps: one latitude/longitude field on a Cartopy PlateCarree axis, with coastlines and borders.

Fields are ``xr.DataArray`` objects with two dimensions named ``latitude``/``longitude`` (or ``lat``/``lon``);
size-1 extra dimensions are squeezed. Either latitude order and longitudes 0–360 or −180–180 are accepted:
:func:`canonical_grid` turns them into ascending latitude and −180–180 longitude before plotting, so global
and regional extents (including regions that cross the Greenwich meridian) work alike. Cells are drawn with
``pcolormesh`` (``shading="nearest"``: each value fills the cell centred on its coordinate); NaN cells stay
blank.
"""

from __future__ import annotations

from collections.abc import Iterable

import cartopy.crs as ccrs
import cartopy.feature as cfeature
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from cartopy.mpl.geoaxes import GeoAxes

from climate_bnnp.data import ERA5_ATTRIBUTION
from climate_bnnp.data.coords import coord_name, wrap_longitude
from climate_bnnp.data.regions import country_geometry

__all__ = [
    "DATA_CRS",
    "KIND_CMAPS",
    "add_footer",
    "canonical_grid",
    "colour_limits",
    "map_extent",
    "outline_region",
    "plot_map",
]

KIND_CMAPS = {"mean": "YlGnBu", "truth": "YlGnBu", "sample": "YlGnBu", "std": "magma_r"}
"""Default colour map per panel kind: one for values (truth, mean, samples) and one for the std."""

DATA_CRS = ccrs.PlateCarree()
"""Coordinate system of the data: longitudes/latitudes in degrees."""

Extent = tuple[float, float, float, float]


def _lat_lon_dims(da: xr.DataArray) -> tuple[str, str]:
    lat, lon = (coord_name(da, axis, among="dims", label="da") for axis in ("latitude", "longitude"))
    return lat, lon


def canonical_grid(da: xr.DataArray) -> xr.DataArray:
    """Return ``da`` as a 2-D ``(latitude, longitude)`` field with ascending latitude and −180–180 longitude.

    Size-1 dimensions other than latitude/longitude are dropped; the dimension names are kept.

    Raises:
        ValueError: not a DataArray on a latitude/longitude grid with at least 2 cells per axis, or other
            dimensions of size > 1 remain (select one time step / one sample first).
    """
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"expected an xarray.DataArray, got {type(da).__name__}")
    lat, lon = _lat_lon_dims(da)
    extra = [d for d in da.dims if d not in (lat, lon)]
    big = {d: da.sizes[d] for d in extra if da.sizes[d] > 1}
    if big:
        raise ValueError(
            f"a map needs a single (latitude, longitude) field, but dims {big} have more than one entry; "
            f"select one first, e.g. da.isel({next(iter(big))}=0)"
        )
    out = da.squeeze(extra, drop=True) if extra else da
    if out.sizes[lat] < 2 or out.sizes[lon] < 2:
        raise ValueError(f"a map needs at least 2 x 2 cells, got {dict(out.sizes)}")
    lons = wrap_longitude(out[lon].values)
    out = out.assign_coords({lon: lons}).sortby([lat, lon])
    return out.transpose(lat, lon)


def _grid_edges(da: xr.DataArray) -> Extent:
    """``(lon_min, lon_max, lat_min, lat_max)`` of the cell edges of a grid (longitudes as −180–180)."""
    lat, lon = _lat_lon_dims(da)
    lo = np.sort(wrap_longitude(da[lon].values))
    la = np.sort(da[lat].values.astype(float))
    dlo, dla = np.median(np.diff(lo)), np.median(np.diff(la))
    return (
        max(lo[0] - dlo / 2, -180.0),
        min(lo[-1] + dlo / 2, 180.0),
        max(la[0] - dla / 2, -90.0),
        min(la[-1] + dla / 2, 90.0),
    )


def _is_global(extent: Extent) -> bool:
    return extent[1] - extent[0] >= 350.0


def _feature_resolution(extent: Extent) -> str:
    """Natural Earth scale for the extent: 110m for large areas, 50m for regions (both ship offline)."""
    return "110m" if max(extent[1] - extent[0], extent[3] - extent[2]) > 90.0 else "50m"


def colour_limits(*fields: xr.DataArray | np.ndarray, upper_percentile: float = 99.0) -> tuple[float, float]:
    """Shared colour limits for several fields: ``(vmin, vmax)``.

    ``vmax`` is the ``upper_percentile`` of all finite values together; ``vmin`` is 0 when no value is
    negative (precipitation, std) and the ``100 − upper_percentile`` percentile otherwise. A constant field
    gets a unit-wide range.
    """
    values = np.concatenate([np.ravel(np.asarray(f, dtype=float)) for f in fields])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    vmax = float(np.percentile(values, upper_percentile))
    vmin = 0.0 if values.min() >= 0 else float(np.percentile(values, 100.0 - upper_percentile))
    if not vmax > vmin:
        vmax = vmin + 1.0
    return vmin, vmax


def outline_region(ax: GeoAxes, region: str | xr.DataArray, *, color: str = "red", linewidth: float = 1.2):
    """Outline a held-out region on a map: a country name, or a boolean (latitude, longitude) mask.

    A name is looked up with :func:`climate_bnnp.data.regions.country_geometry` (Natural Earth 1:50m
    ``admin_0_countries``, NAME_EN or NAME: the polygon of the paper's "swissless" protocol), so the
    outline drawn is the polygon the data layer masks with. A mask is outlined by the 0.5 contour of its
    cells (True = inside the region).
    """
    if isinstance(region, str):
        ax.add_geometries(
            [country_geometry(region)],
            crs=DATA_CRS,
            facecolor="none",
            edgecolor=color,
            linewidth=linewidth,
            zorder=4,
        )
        return
    if not isinstance(region, xr.DataArray) or region.dtype != bool:
        raise TypeError(
            "held_out_region: expected a country name (str) or a boolean xr.DataArray on the map's "
            f"latitude/longitude grid; got {type(region).__name__}"
            + (f" of dtype {region.dtype}" if hasattr(region, "dtype") else "")
        )
    mask = canonical_grid(region)
    lat, lon = mask.dims
    ax.contour(
        mask[lon].values,
        mask[lat].values,
        mask.values.astype(float),
        levels=[0.5],
        colors=[color],
        linewidths=linewidth,
        transform=DATA_CRS,
        zorder=4,
    )


def map_extent(grid: xr.DataArray, extent: Extent | str | None = None) -> Extent:
    """The extent a map of ``grid`` shows: ``(lon_min, lon_max, lat_min, lat_max)`` in degrees.

    The grid may have either latitude order and longitudes 0–360 or −180–180.

    ``extent`` may be such a tuple, ``"global"``, or ``None`` for the grid's cell edges (the whole globe
    when the grid spans ≥ 350° of longitude).
    """
    if extent == "global" or (extent is None and _is_global(_grid_edges(grid))):
        return (-180.0, 180.0, -90.0, 90.0)
    if extent is None:
        return _grid_edges(grid)
    if isinstance(extent, str) or len(extent) != 4:
        raise ValueError(f"extent: expected (lon_min, lon_max, lat_min, lat_max) or 'global', got {extent!r}")
    ext = (float(extent[0]), float(extent[1]), float(extent[2]), float(extent[3]))
    if not (ext[0] < ext[1] and ext[2] < ext[3]):
        raise ValueError(f"extent: expected lon_min < lon_max and lat_min < lat_max, got {extent!r}")
    return ext


def _set_extent(ax: GeoAxes, extent: Extent | str | None, grid: xr.DataArray) -> Extent:
    ext = map_extent(grid, extent)
    if ext == (-180.0, 180.0, -90.0, 90.0):
        ax.set_global()
    else:
        ax.set_extent(ext, crs=DATA_CRS)
    return ext


def add_footer(fig, text: str) -> None:
    """Write ``text`` (the data attribution) in a small footer at the bottom of ``fig``."""
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        try:
            engine.set(rect=(0.0, 0.035, 1.0, 0.965))  # keep a strip free for the footer
        except TypeError:  # pragma: no cover - engines without rect
            pass
    fig.text(0.5, 0.008, text, ha="center", va="bottom", fontsize=7, color="0.3")


def plot_map(
    ax: GeoAxes | None,
    da: xr.DataArray,
    *,
    kind: str = "mean",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | None = None,
    title: str | None = None,
    context: tuple[Iterable[float], Iterable[float]] | None = None,
    extent: Extent | str | None = None,
    coastlines: bool = True,
    borders: bool = True,
    colorbar: bool = True,
    label: str | None = None,
    held_out_region: str | xr.DataArray | None = None,
    attribution: str = ERA5_ATTRIBUTION,
) -> GeoAxes:
    """Draw one field on a PlateCarree map.

    Args:
        ax: a Cartopy ``GeoAxes``; ``None`` creates a new figure (with ``attribution`` as its footer).
        da: the field, dims latitude/longitude (see :func:`canonical_grid`).
        kind: ``"mean"``, ``"truth"``, ``"sample"`` or ``"std"``: picks the default colour map.
        vmin, vmax: colour limits; default from :func:`colour_limits` of this field (0 .. 99th percentile
            for non-negative fields). Pass shared limits to compare panels.
        cmap: colour map name; default ``KIND_CMAPS[kind]``.
        title: axis title.
        context: ``(lat, lon)`` arrays of context locations, drawn as black dots.
        extent: ``(lon_min, lon_max, lat_min, lat_max)`` in degrees, ``"global"``, or ``None`` for the
            data's extent (global when the data span ≥ 350° of longitude).
        coastlines, borders: draw Natural Earth coastlines / country borders (offline data; 110m scale for
            large areas, 50m for regions).
        colorbar: add a horizontal colour bar below the map.
        label: colour-bar label; default ``da.attrs["units"]`` when present.
        held_out_region: country name or boolean mask to outline (see :func:`outline_region`).
        attribution: footer text when this call creates the figure.

    Returns:
        The axis drawn on.
    """
    if kind not in KIND_CMAPS:
        raise ValueError(f"kind: expected one of {sorted(KIND_CMAPS)}, got {kind!r}")
    grid = canonical_grid(da)
    if ax is None:
        fig = plt.figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.add_subplot(projection=DATA_CRS)
        add_footer(fig, attribution)
    elif not isinstance(ax, GeoAxes):
        raise TypeError(
            "ax: expected a Cartopy GeoAxes, e.g. fig.add_subplot(projection=cartopy.crs.PlateCarree()); "
            f"got {type(ax).__name__}"
        )
    if vmin is None or vmax is None:
        auto_min, auto_max = colour_limits(grid)
        vmin = auto_min if vmin is None else vmin
        vmax = auto_max if vmax is None else vmax
    lat, lon = grid.dims
    mesh = ax.pcolormesh(
        grid[lon].values,
        grid[lat].values,
        np.ma.masked_invalid(np.asarray(grid.values, dtype=float)),
        transform=DATA_CRS,
        shading="nearest",
        cmap=cmap or KIND_CMAPS[kind],
        vmin=vmin,
        vmax=vmax,
    )
    ext = _set_extent(ax, extent, grid)
    res = _feature_resolution(ext)
    if coastlines:
        ax.add_feature(cfeature.COASTLINE.with_scale(res), linewidth=0.6, edgecolor="black", zorder=3)
    if borders:
        ax.add_feature(cfeature.BORDERS.with_scale(res), linewidth=0.4, edgecolor="0.25", zorder=3)
    if context is not None:
        c_lat, c_lon = (np.asarray(a, dtype=float).ravel() for a in context)
        if c_lat.shape != c_lon.shape:
            raise ValueError(f"context: lat and lon differ in length ({c_lat.size} vs {c_lon.size})")
        ax.scatter(c_lon, c_lat, s=3, c="black", marker="o", linewidths=0, transform=DATA_CRS, zorder=5)
    if held_out_region is not None:
        outline_region(ax, held_out_region)
    if title:
        ax.set_title(title)
    if colorbar:
        units = label if label is not None else da.attrs.get("units", "")
        ax.figure.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.8, pad=0.04, label=units)
    return ax
