"""Model inputs at arbitrary points, built by the ERA5 task sets' own feature code.

The features are computed by :func:`climate_bnnp.tasks.era5.feature_columns` (the one implementation used
in training); :class:`Era5Features` only feeds it points instead of a tile. The feature list and the
normaliser come from the checkpoint (``experiment["data"]["features"]`` and ``normaliser``), never from
the user's data.

Any object with a ``covariates`` tuple (the variables it reads), a ``needs_time`` flag and a call
``features(lat=, lon=, time=, values=) -> (N, Dx)`` can be passed to :func:`climate_bnnp.predict` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr

from ..data import Normaliser
from ..tasks.era5 import feature_columns, feature_dim
from .summary import wrap_longitude

__all__ = ["Era5Features", "PointFeatures", "features_from_experiment"]

_VARIABLE_FEATURES = ("t2m", "u10", "v10", "msl")
_TIME_FEATURES = ("hour", "season")
_COORD_FEATURES = ("lat", "lon")


class PointFeatures(Protocol):
    """What :func:`climate_bnnp.predict` needs to turn points into model inputs."""

    covariates: tuple[str, ...]
    needs_time: bool

    def __call__(
        self, *, lat: np.ndarray, lon: np.ndarray, time: Any, values: Mapping[str, np.ndarray]
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class Era5Features:
    """ERA5 input features (see :mod:`climate_bnnp.tasks.era5`) at points.

    Args:
        names: feature names in model-input order, e.g. ``("xyz", "t2m")``.
        normaliser: the training normaliser (z-scores ``t2m``, ``u10``, ``v10``, ``msl``).
        coord_stats: ``{"lat": (mean, std), "lon": (mean, std)}`` of the training grid; needed only for
            the ``lat``/``lon`` features.

    Raises:
        ValueError: unknown features, or ``lat``/``lon`` features without ``coord_stats``.
    """

    names: tuple[str, ...]
    normaliser: Normaliser
    coord_stats: Mapping[str, tuple[float, float]] | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        feature_dim(self.names)
        coords = [n for n in self.names if n in _COORD_FEATURES]
        if coords and not (self.coord_stats and all(c in self.coord_stats for c in coords)):
            raise ValueError(
                f"features {coords} are z-scored with the training grid's coordinate mean/std, which this "
                "checkpoint does not record; pass Era5Features(..., coord_stats={'lat': (mean, std), "
                "'lon': (mean, std)}) with the training grid's values, or use 'xyz'/'sincos_lon' features."
            )
        missing = [v for v in self.covariates if v not in self.normaliser.mean]
        if missing:
            raise ValueError(f"the normaliser has no statistics for covariates {missing}.")

    @property
    def covariates(self) -> tuple[str, ...]:
        """Variables read from the data (physical units)."""
        return tuple(n for n in self.names if n in _VARIABLE_FEATURES)

    @property
    def needs_time(self) -> bool:
        """Whether a time stamp is needed (``hour``/``season`` features)."""
        return any(n in _TIME_FEATURES for n in self.names)

    @property
    def dim_x(self) -> int:
        """Input dimension Dx."""
        return feature_dim(self.names)

    def __call__(
        self, *, lat: np.ndarray, lon: np.ndarray, time: Any, values: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Model inputs ``(N, Dx)`` float64 at points ``lat, lon (N,)`` (degrees) with ``values[name] (N,)``."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = wrap_longitude(lon)  # the training stores are in [-180, 180)
        if self.needs_time and time is None:
            raise ValueError(
                f"features {[n for n in self.names if n in _TIME_FEATURES]} need a time stamp; give the "
                "Dataset a 'time' coordinate (a dimension or a scalar coordinate)."
            )
        stamp = pd.Timestamp(time) if time is not None else None
        points = xr.Dataset({k: ("point", np.asarray(values[k], np.float64)) for k in self.covariates})
        # The same per-feature code as training (tasks.era5.feature_columns) on a flat set of points.
        stats = dict(self.coord_stats or {})
        columns: list[np.ndarray] = []
        for name in self.names:
            columns.extend(
                feature_columns(name, points, lat, lon, stamp, normaliser=self.normaliser, coord_stats=stats)
            )
        if not columns or lat.size == 0:
            return np.zeros((lat.size, self.dim_x))
        return np.stack([np.asarray(c, np.float64).ravel() for c in columns], axis=-1)  # (N, Dx)


def features_from_experiment(
    experiment: Mapping[str, Any] | None, normaliser: Normaliser, *, where: str = "checkpoint"
) -> Era5Features:
    """The :class:`Era5Features` recorded in a checkpoint's experiment config.

    Raises:
        ValueError: the experiment does not record ``data.features``.
    """
    data = (experiment or {}).get("data") or {}
    names: Sequence[str] | None = data.get("features")
    if not names:
        raise ValueError(
            f"{where} does not record its input features (experiment['data']['features']); pass "
            "features=Era5Features(names, normaliser) (or your own PointFeatures) to predict()."
        )
    return Era5Features(tuple(names), normaliser, data.get("coord_stats"))
