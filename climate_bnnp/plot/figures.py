"""Multi-panel figures and atomic saving.

:func:`uncertainty_figure` draws the paper's ERA5 figure layout
(its "Figure 5"; docs/pipeline.md): context locations,
truth, predictive mean, predictive std and two posterior samples, with an optional held-out region outline
(e.g. the "swissless" protocol's Switzerland) and the data attribution in a footer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from climate_bnnp.data import ERA5_ATTRIBUTION
from climate_bnnp.data.files import atomic_write
from climate_bnnp.plot.maps import (
    DATA_CRS,
    KIND_CMAPS,
    Extent,
    add_footer,
    canonical_grid,
    colour_limits,
    map_extent,
    plot_map,
)

__all__ = ["DEFAULT_DPI", "save_figure", "uncertainty_figure"]

DEFAULT_DPI = 150
"""Resolution of saved raster figures, dots per inch."""


def _sample_list(
    samples: xr.DataArray | Sequence[xr.DataArray] | None, sample_dim: str
) -> list[xr.DataArray]:
    if samples is None:
        return []
    if isinstance(samples, xr.DataArray):
        if sample_dim not in samples.dims:
            return [samples]
        return [samples.isel({sample_dim: i}) for i in range(min(2, samples.sizes[sample_dim]))]
    return list(samples)[:2]


def uncertainty_figure(
    truth: xr.DataArray,
    mean: xr.DataArray,
    std: xr.DataArray,
    samples: xr.DataArray | Sequence[xr.DataArray] | None = (),
    context_lat=None,
    context_lon=None,
    *,
    held_out_region: str | xr.DataArray | None = None,
    attribution: str = ERA5_ATTRIBUTION,
    extent: Extent | str | None = None,
    context_values=None,
    units: str | None = None,
    cmap: str | None = None,
    std_cmap: str | None = None,
    title: str | None = None,
    sample_dim: str = "sample",
    upper_percentile: float = 99.0,
) -> Figure:
    """Context, truth, predictive mean, predictive std and up to two posterior samples on one figure.

    Colour scales: truth, mean and samples (and coloured context points) share one scale,
    ``colour_limits(truth, mean, upper_percentile=99)`` (0 .. 99th percentile of truth and mean together
    for non-negative fields such as precipitation); the std has its own, 0 .. its 99th percentile.

    Args:
        truth, mean, std: (latitude, longitude) fields on the same grid (any latitude order, longitudes
            0–360 or −180–180; see :func:`climate_bnnp.plot.canonical_grid`).
        samples: a DataArray with a ``sample_dim`` dimension (the first two are drawn), or a sequence of
            fields; ``None``/empty draws no sample panels.
        context_lat, context_lon: context locations (degrees); ``None`` marks the panel "no context".
        held_out_region: a Natural Earth country name (e.g. ``"Switzerland"``) or a boolean mask on the
            grid, outlined in red on every panel.
        attribution: footer text; defaults to the ERA5 attribution required by its CC-BY 4.0 licence.
        extent: ``(lon_min, lon_max, lat_min, lat_max)``, ``"global"``, or ``None`` for the data's extent.
        context_values: optional values at the context locations, to colour the context dots.
        units: colour-bar label of the value panels; default ``truth.attrs["units"]``.
        cmap, std_cmap: colour maps of the value panels and of the std panel.
        title: figure title.
        sample_dim: name of the sample dimension of ``samples``.
        upper_percentile: percentile setting the top of each colour scale.

    Returns:
        The matplotlib Figure (save it with :func:`save_figure`).
    """
    sample_list = _sample_list(samples, sample_dim)
    vmin, vmax = colour_limits(canonical_grid(truth), canonical_grid(mean), upper_percentile=upper_percentile)
    smin, smax = colour_limits(canonical_grid(std), upper_percentile=upper_percentile)
    units = units if units is not None else truth.attrs.get("units", "")
    std_units = std.attrs.get("units", units)

    lon_min, lon_max, lat_min, lat_max = map_extent(canonical_grid(truth), extent)
    aspect = max(0.35, min(1.5, (lat_max - lat_min) / max(lon_max - lon_min, 1e-9)))  # panel height/width
    fig = plt.figure(figsize=(13.5, 2 * (4.5 * aspect + 1.3) + 0.4), layout="constrained")
    axes = [fig.add_subplot(2, 3, i + 1, projection=DATA_CRS) for i in range(6)]
    common: dict[str, Any] = {"extent": extent, "held_out_region": held_out_region}
    value: dict[str, Any] = {"vmin": vmin, "vmax": vmax, "cmap": cmap or KIND_CMAPS["mean"], "label": units}

    # Panel 1: context locations over the map (no field: draw the truth fully transparent for the extent).
    ctx = axes[0]
    plot_map(ctx, truth, kind="truth", colorbar=False, **common, **{**value, "cmap": "Greys"})
    ctx.collections[0].set_alpha(0.0)
    if context_values is None:  # an invisible colour bar keeps the panel the size of its neighbours
        spacer = fig.colorbar(ctx.collections[0], ax=ctx, orientation="horizontal", shrink=0.8, pad=0.04)
        spacer.ax.set_visible(False)
    if context_lat is None or len(np.ravel(context_lat)) == 0:
        ctx.set_title("Context: none")
    else:
        c_lat = np.asarray(context_lat, dtype=float).ravel()
        c_lon = np.asarray(context_lon, dtype=float).ravel()
        if c_lat.shape != c_lon.shape:
            raise ValueError(f"context_lat and context_lon differ in length ({c_lat.size} vs {c_lon.size})")
        if context_values is None:
            ctx.scatter(c_lon, c_lat, s=4, c="black", linewidths=0, transform=DATA_CRS, zorder=5)
        else:
            pts = ctx.scatter(
                c_lon, c_lat, s=6, c=np.asarray(context_values, dtype=float).ravel(), vmin=vmin, vmax=vmax,
                cmap=value["cmap"], linewidths=0, transform=DATA_CRS, zorder=5,
            )  # fmt: skip
            fig.colorbar(pts, ax=ctx, orientation="horizontal", shrink=0.8, pad=0.04, label=units)
        ctx.set_title(f"Context locations (n = {c_lat.size})")

    plot_map(axes[1], truth, kind="truth", title="Truth", **common, **value)
    plot_map(axes[2], mean, kind="mean", title="Predictive mean", **common, **value)
    plot_map(
        axes[3], std, kind="std", title="Predictive std", vmin=smin, vmax=smax,
        cmap=std_cmap or KIND_CMAPS["std"], label=std_units, **common,
    )  # fmt: skip
    for i, ax in enumerate(axes[4:]):
        if i < len(sample_list):
            plot_map(ax, sample_list[i], kind="sample", title=f"Posterior sample {i + 1}", **common, **value)
        else:
            ax.set_visible(False)
    if title:
        fig.suptitle(title)
    add_footer(fig, attribution)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = DEFAULT_DPI, close: bool = False) -> Path:
    """Save ``fig`` atomically: render to a temporary file in the same folder, then rename over ``path``.

    A killed process never leaves a half-written file under ``path``. The format follows the suffix
    (``.png`` by default, at ``dpi`` dots per inch, default :data:`DEFAULT_DPI` = 150); parent folders are
    created. ``close=True`` also closes the figure (frees memory in long scripts).

    Returns:
        The path written.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
    finally:
        if close:
            plt.close(fig)
    return path
