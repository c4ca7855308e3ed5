"""The input schema: everything a model consumes, in one serialisable object.

A model trained on ERA5 tasks reads ``x (N, Dx)`` built from named features and predicts a transformed,
z-scored ``tp``. :class:`InputSchema` records exactly that — the feature names (and so ``Dx``), the
covariates and their units, the training grid's coordinate statistics (for the ``lat``/``lon`` features),
the normaliser (with the target transform) and the precipitation period. :func:`fit_input_schema` builds it
from a standardised dataset; the task store keeps it in its attributes (``input_schema``), training copies
it into every checkpoint, and :func:`climate_bnnp.predict`, the task sets and the pipeline read it back, so
a checkpoint alone says what its model needs.

Features (:data:`FEATURE_WIDTHS` gives their column counts):

* ``lon``, ``lat``: degrees, z-scored with the mean/std of the training grid's coordinates (the paper's
  regional setting ``x = (lon, lat, t2m)``);
* ``xyz``: position on the unit sphere ``(cos φ cos λ, cos φ sin λ, sin φ)``, no seam at the dateline;
* ``sincos_lon``: ``(sin λ, cos λ)``;
* ``rff3``, ``rff10``: random Fourier features of the position, ``(sin, cos)(ω_j · xyz)`` for 12 fixed
  frequencies ``ω_j ~ N(0, I / ℓ²)`` with ``ℓ`` = 3° or 10° of arc (24 columns each). The frequencies
  are drawn once, when the schema is built, and stored in it as numbers
  (:attr:`InputSchema.fourier_frequencies`), so a checkpoint's inputs do not depend on the NumPy version
  that reads it. A Bayesian linear layer on them is a GP with an RBF kernel of lengthscale ``ℓ`` (Rahimi &
  Recht): kriging's spatial inductive bias, at the
  scale of a tile, for an MLP over coordinates;
* ``t2m``, ``u10``, ``v10``, ``msl``: covariates, z-scored with the normaliser;
* ``hour``: ``(sin, cos)(2π hour / 24)``; ``season``: ``(sin, cos)(2π day-of-year / 365.25)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from climate_bnnp.config.vocab import COVARIATES, FEATURE_WIDTHS, feature_dim
from climate_bnnp.data.coords import wrap_longitude
from climate_bnnp.data.normalise import Normaliser, fit_normaliser

__all__ = [
    "COVARIATES",
    "FEATURE_WIDTHS",
    "SCHEMA_VERSION",
    "InputSchema",
    "check_dim_x",
    "feature_dim",
    "fit_input_schema",
]

SCHEMA_VERSION = "climate_bnnp.input_schema/1"

_TIME_FEATURES = ("hour", "season")
_FOURIER_LENGTHSCALES_DEG = {"rff3": 3.0, "rff10": 10.0}
_FOURIER_NUM = 12


def _fourier_frequencies(name: str) -> np.ndarray:
    """Draw the frequencies ``(12, 3)`` of a random-Fourier-feature set (seeded by its lengthscale; only when
    a schema is built: afterwards they are read from the schema, never drawn again)."""
    scale = np.deg2rad(_FOURIER_LENGTHSCALES_DEG[name])  # chord ≈ arc on the unit sphere at these scales
    rng = np.random.default_rng(int(_FOURIER_LENGTHSCALES_DEG[name] * 1000))
    return rng.standard_normal((_FOURIER_NUM, 3)) / scale


_COORD_FEATURES = ("lat", "lon")


def _frequency_rows(name: str, values: Any, where: str = "input schema") -> tuple[tuple[float, ...], ...]:
    """Stored frequencies as a ``(12, 3)`` tuple of finite floats.

    Raises:
        ValueError: another shape, or a value that is not a finite number.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (_FOURIER_NUM, 3) or not np.isfinite(array).all():
        raise ValueError(
            f"{where}: fourier_frequencies[{name!r}] must be {_FOURIER_NUM} rows of 3 finite numbers, got an "
            f"array of shape {array.shape}; rebuild the schema with fit_input_schema()."
        )
    return tuple(tuple(float(v) for v in row) for row in array)


def check_dim_x(features: Sequence[str], dim_x: int, where: str = "model.dim_x") -> None:
    """Raise if an input dimension does not follow from a feature list.

    Raises:
        ValueError: naming the features and the value that follows from them.
    """
    expected = feature_dim(features)
    if dim_x != expected:
        raise ValueError(
            f"{where} = {dim_x}, but the features {list(features)} give dim_x = {expected}; "
            f"set model.dim_x: {expected}."
        )


@dataclass(frozen=True, kw_only=True)
class InputSchema:
    """What a model consumes: features, covariates and units, coordinate statistics, normaliser, period.

    Attributes:
        features: feature names in model-input order, e.g. ``("lon", "lat", "t2m")``.
        normaliser: z-scoring of the covariates and of the target (with the target transform).
        coord_stats: ``{"lat"|"lon": (mean, std)}`` of the training grid's coordinates in degrees.
        units: units of the covariates and the target, e.g. ``{"t2m": "degC", "tp": "mm"}``.
        target: the predicted variable. tp_period_hours: the accumulation period of ``tp`` in hours
            (``"mixed"`` for the paper's raw ERA5-Land mixing of 24 h and 12 h totals; None if unknown).
        fourier_frequencies: ``{"rff3"|"rff10": ((ω_x, ω_y, ω_z), ...)}``, 12 frequencies per random-Fourier
            feature set (in 1/radian); drawn when not given, then stored with the schema as numbers.

    Raises:
        ValueError: unknown features, or statistics missing for a feature or the target.
    """

    features: tuple[str, ...]
    normaliser: Normaliser
    coord_stats: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    target: str = "tp"
    tp_period_hours: int | str | None = None
    fourier_frequencies: Mapping[str, tuple[tuple[float, ...], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        frequencies = {k: _frequency_rows(k, v) for k, v in dict(self.fourier_frequencies).items()}
        for name in self.features:
            if name in _FOURIER_LENGTHSCALES_DEG and name not in frequencies:
                frequencies[name] = _frequency_rows(name, _fourier_frequencies(name))  # drawn once, here
        object.__setattr__(self, "fourier_frequencies", frequencies)
        object.__setattr__(
            self, "coord_stats", {k: (float(m), float(s)) for k, (m, s) in dict(self.coord_stats).items()}
        )
        object.__setattr__(self, "units", dict(self.units))
        feature_dim(self.features)
        coords = [n for n in self.features if n in _COORD_FEATURES and n not in self.coord_stats]
        if coords:
            raise ValueError(
                f"features {coords} are z-scored with the training grid's coordinate mean/std, but "
                f"coord_stats has only {sorted(self.coord_stats)}; build the schema with fit_input_schema() "
                "or pass coord_stats={'lat': (mean, std), 'lon': (mean, std)}."
            )
        missing = [v for v in (*self.covariates, self.target) if v not in self.normaliser.mean]
        if missing:
            raise ValueError(
                f"the normaliser has no statistics for {missing} (it has {sorted(self.normaliser.mean)}); "
                "fit it on every covariate and the target."
            )

    # ------------------------------------------------------------------------------ what it describes
    @property
    def dim_x(self) -> int:
        """Input dimension Dx."""
        return feature_dim(self.features)

    @property
    def covariates(self) -> tuple[str, ...]:
        """Data variables the features read (physical units)."""
        return tuple(n for n in self.features if n in COVARIATES)

    @property
    def needs_time(self) -> bool:
        """Whether a time stamp is needed (``hour``/``season`` features)."""
        return any(n in _TIME_FEATURES for n in self.features)

    def with_features(self, features: Sequence[str]) -> InputSchema:
        """The same schema with another feature list (statistics must cover it)."""
        return replace(self, features=tuple(features))

    def check_dim_x(self, dim_x: int, where: str = "model.dim_x") -> None:
        """Raise if a model's input dimension does not follow from the features (see :func:`check_dim_x`)."""
        check_dim_x(self.features, dim_x, where)

    # ------------------------------------------------------------------------------------ the features
    def columns(
        self, name: str, values: Mapping[str, np.ndarray], lat: np.ndarray, lon: np.ndarray, time: Any
    ) -> list[np.ndarray]:
        """The model-input column(s) of one feature at points ``lat, lon`` (degrees, any common shape)."""
        if name in _COORD_FEATURES:
            mean, std = self.coord_stats[name]
            return [((lat if name == "lat" else lon) - mean) / std]
        if name in COVARIATES:
            return [np.asarray(self.normaliser.forward(name, np.asarray(values[name], np.float64)))]
        phi, lam = np.deg2rad(lat), np.deg2rad(lon)
        if name == "xyz":
            return [np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)]
        if name == "sincos_lon":
            return [np.sin(lam), np.cos(lam)]
        if name in _FOURIER_LENGTHSCALES_DEG:
            xyz = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)
            proj = xyz @ np.asarray(self.fourier_frequencies[name], np.float64).T  # (..., 12)
            return [*np.moveaxis(np.sin(proj), -1, 0), *np.moveaxis(np.cos(proj), -1, 0)]
        if time is None:
            raise ValueError(
                f"the feature {name!r} needs a time stamp; give the Dataset a 'time' coordinate "
                "(a dimension or a scalar coordinate)."
            )
        stamp = pd.Timestamp(time)
        if name == "hour":
            angle = 2 * np.pi * (stamp.hour + stamp.minute / 60) / 24
        else:  # season
            angle = 2 * np.pi * (stamp.day_of_year - 1) / 365.25
        shape = np.shape(lat)
        return [np.full(shape, np.sin(angle)), np.full(shape, np.cos(angle))]

    def __call__(
        self, *, lat: np.ndarray, lon: np.ndarray, time: Any, values: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Model inputs ``(N, Dx)`` float64 at points ``lat, lon (N,)`` (degrees, any longitude convention)
        with covariates ``values[name] (N,)`` in physical units; NaN where a covariate is NaN."""
        lat = np.asarray(lat, dtype=np.float64).ravel()
        lon = wrap_longitude(lon).ravel()  # the stores' convention, [-180, 180)
        if lat.size == 0:
            return np.zeros((0, self.dim_x))
        columns = [c for name in self.features for c in self.columns(name, values, lat, lon, time)]
        return np.stack([np.asarray(c, np.float64).ravel() for c in columns], axis=-1)  # (N, Dx)

    def target_forward(self, values: Any) -> Any:
        """Target in physical units -> model units (transform, then z-score)."""
        return self.normaliser.forward(self.target, values)

    def target_inverse(self, values: Any) -> Any:
        """Model units -> target in physical units."""
        return self.normaliser.inverse(self.target, values)

    # ------------------------------------------------------------------------------------ plain data
    def to_dict(self) -> dict[str, Any]:
        """JSON-able data (for store attributes and checkpoints)."""
        return {
            "version": SCHEMA_VERSION,
            "features": list(self.features),
            "normaliser": self.normaliser.to_dict(),
            "coord_stats": {k: list(v) for k, v in self.coord_stats.items()},
            "units": dict(self.units),
            "target": self.target,
            "tp_period_hours": self.tp_period_hours,
            "fourier_frequencies": {k: [list(row) for row in v] for k, v in self.fourier_frequencies.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "input schema") -> InputSchema:
        """Rebuild from :meth:`to_dict` output.

        A schema written before the random-Fourier-feature frequencies were stored has them drawn again
        from their seed, with a warning: that gives the training's frequencies only while NumPy's random
        stream is unchanged. Saving the schema again (a rebuilt store, a re-saved checkpoint) freezes them.

        Raises:
            ValueError: not an input schema of this version, or malformed stored frequencies.
        """
        if not isinstance(data, Mapping) or data.get("version") != SCHEMA_VERSION:
            got = data.get("version") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"{where}: expected an input schema of version {SCHEMA_VERSION!r}, got {got!r}.")
        features = tuple(data["features"])
        if "fourier_frequencies" not in data and any(n in _FOURIER_LENGTHSCALES_DEG for n in features):
            warnings.warn(
                f"{where}: written without its random-Fourier-feature frequencies (an earlier version); "
                f"they are drawn again from their seed with NumPy {np.__version__}, which reproduces the "
                "training's inputs only if NumPy's random stream has not changed since. Rebuild the task "
                "store or re-save the checkpoint with this version to freeze them.",
                stacklevel=2,
            )
        return cls(
            features=features,
            normaliser=Normaliser.from_dict(data["normaliser"]),
            coord_stats={k: tuple(v) for k, v in data["coord_stats"].items()},
            units=dict(data["units"]),
            target=str(data["target"]),
            tp_period_hours=data["tp_period_hours"],
            fourier_frequencies={
                k: _frequency_rows(k, v, where) for k, v in data.get("fourier_frequencies", {}).items()
            },
        )


def fit_input_schema(
    ds: xr.Dataset,
    features: Sequence[str],
    *,
    tp_transform: str = "none",
    wet_threshold: float = 0.0,
    times: Sequence[int] | None = None,
    target: str = "tp",
) -> InputSchema:
    """The schema of a standardised dataset: normaliser fitted on ``times`` (the train split), coordinate
    statistics of its grid, units of its variables and the period of its ``tp``; ``wet_threshold`` (mm):
    see :class:`~climate_bnnp.data.Normaliser`.

    Raises:
        ValueError: unknown features, or variables the dataset lacks.
    """
    feature_dim(features)
    variables = [f for f in features if f in COVARIATES] + [target]
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(
            f"features {list(features)} need variables {missing}, but the dataset has "
            f"{sorted(map(str, ds.data_vars))}; drop those features or download the variables."
        )
    lat, lon = ds["latitude"].values.astype(np.float64), ds["longitude"].values.astype(np.float64)
    period = ds.attrs.get("tp_period_hours", ds[target].attrs.get("period_hours"))
    return InputSchema(
        features=tuple(features),
        normaliser=fit_normaliser(
            ds, variables, tp_transform=tp_transform, wet_threshold=wet_threshold, times=times
        ),
        coord_stats={"lat": (lat.mean(), lat.std() or 1.0), "lon": (lon.mean(), lon.std() or 1.0)},
        units={v: str(ds[v].attrs.get("units", "")) for v in variables},
        target=target,
        tp_period_hours=period if isinstance(period, (str, type(None))) else int(period),
    )
