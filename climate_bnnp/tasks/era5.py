"""ERA5 task sets: the bridge from a Zarr task store (xarray) to model inputs (numpy, then torch).

One task is one time step of one tile of a store built by :func:`climate_bnnp.data.build_task_store`.
Its cells become points: inputs ``x (N, Dx)`` from the configured features, target ``y (N, 1)`` =
normalised ``tp`` (``(g(tp) - mean) / std`` with ``g`` = identity or log1p, from the store's
:class:`~climate_bnnp.data.Normaliser`). Cells where any feature or ``tp`` is NaN (ERA5-Land over sea)
are dropped.

Features (:data:`FEATURE_WIDTHS` gives their column counts):

* ``lon``, ``lat``: degrees, z-scored with the mean/std of the store's grid coordinates (the paper's
  regional setting ``x = (lon, lat, t2m)``);
* ``xyz``: position on the unit sphere ``(cos φ cos λ, cos φ sin λ, sin φ)``, no seam at the dateline;
* ``sincos_lon``: ``(sin λ, cos λ)``;
* ``t2m``, ``u10``, ``v10``, ``msl``: z-scored with the store's normaliser;
* ``hour``: ``(sin, cos)(2π hour / 24)``; ``season``: ``(sin, cos)(2π day-of-year / 365.25)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..data import Normaliser, TaskKey, list_tasks, read_task, task_slices
from .sampler import TaskSource

__all__ = ["FEATURE_WIDTHS", "Era5Task", "Era5TaskSet", "feature_columns", "feature_dim", "train_source"]

FEATURE_WIDTHS = {
    "lon": 1,
    "lat": 1,
    "xyz": 3,
    "sincos_lon": 2,
    "t2m": 1,
    "u10": 1,
    "v10": 1,
    "msl": 1,
    "hour": 2,
    "season": 2,
}
"""Number of input columns of each feature."""

_VARIABLE_FEATURES = ("t2m", "u10", "v10", "msl")


def feature_dim(features: Sequence[str]) -> int:
    """Input dimension Dx of a feature list.

    Raises:
        ValueError: unknown or repeated feature names.
    """
    unknown = [f for f in features if f not in FEATURE_WIDTHS]
    if unknown or len(set(features)) != len(features) or not features:
        raise ValueError(
            f"features must be distinct names from {sorted(FEATURE_WIDTHS)}, got {list(features)}."
        )
    return sum(FEATURE_WIDTHS[f] for f in features)


@dataclass(frozen=True)
class Era5Task:
    """The valid cells of one task.

    Attributes:
        key: the task's address in the store.
        x: inputs ``(N, Dx)`` float64; y: normalised ``tp`` ``(N, 1)`` float64.
        lat, lon: cell centres ``(N,)`` in degrees. rows, cols: grid indices ``(N,)`` into the whole store.
        tp_mm: ``tp`` in mm ``(N,)`` (physical units, as stored).
    """

    key: TaskKey
    x: np.ndarray
    y: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    tp_mm: np.ndarray


class Era5TaskSet:
    """Tasks of a task store with a fixed feature list, read one chunk per variable and cached in memory.

    Args:
        store: an open task store (:func:`climate_bnnp.data.open_task_store`).
        features: input feature names (see the module docstring).
        cache: keep every task read in memory (the paper's setting, 7,304 tasks of 3,621 cells, needs about
            0.2 GB); later reads then cost no I/O.

    Raises:
        ValueError: unknown features, or variables the store lacks.
    """

    def __init__(self, store: xr.Dataset, features: Sequence[str], *, cache: bool = True) -> None:
        self.features = tuple(features)
        self.dim_x = feature_dim(self.features)
        needed = [f for f in self.features if f in _VARIABLE_FEATURES] + ["tp"]
        missing = [v for v in needed if v not in store.data_vars]
        if missing:
            raise ValueError(
                f"features {list(self.features)} need store variables {missing}, but the store has "
                f"{sorted(store.data_vars)}; drop those features or request the variables."
            )
        self.store = store
        self.variables = needed
        self.normaliser = Normaliser.from_dict(store.attrs["normaliser"])
        lat, lon = store["latitude"].values, store["longitude"].values
        self._coord_stats = {
            "lat": (float(lat.mean()), float(lat.std()) or 1.0),
            "lon": (float(lon.mean()), float(lon.std()) or 1.0),
        }
        self._cache: dict[TaskKey, Era5Task] | None = {} if cache else None

    def keys(self, split: str) -> list[TaskKey]:
        """All task keys of ``split`` (``train``, ``val`` or ``test``), time-major."""
        return list_tasks(self.store, split)

    def task(self, key: TaskKey | tuple[int, int, int]) -> Era5Task:
        """The valid cells of one task (cached when the set caches)."""
        key = TaskKey(*key)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        task = self._build(key)
        if self._cache is not None:
            self._cache[key] = task
        return task

    def _build(self, key: TaskKey) -> Era5Task:
        tile = read_task(self.store[self.variables], key)
        where = task_slices(self.store, key)
        n_lat, n_lon = tile.sizes["latitude"], tile.sizes["longitude"]
        lat2d, lon2d = np.meshgrid(tile["latitude"].values, tile["longitude"].values, indexing="ij")
        rows2d, cols2d = np.meshgrid(
            np.arange(where["latitude"].start, where["latitude"].start + n_lat),
            np.arange(where["longitude"].start, where["longitude"].start + n_lon),
            indexing="ij",
        )  # (n_lat, n_lon) each
        time = pd.Timestamp(tile["time"].values)
        columns = []
        for name in self.features:
            columns.extend(self._feature(name, tile, lat2d, lon2d, time))
        x = np.stack([c.ravel() for c in columns], axis=-1).astype(np.float64)  # (n_lat n_lon, Dx)
        tp = tile["tp"].values.astype(np.float64).ravel()  # (n_lat n_lon,)
        y = self.normaliser.forward("tp", tp)[:, None]  # (n_lat n_lon, 1)
        valid = np.isfinite(x).all(axis=1) & np.isfinite(y[:, 0])
        return Era5Task(
            key=key,
            x=x[valid],
            y=y[valid],
            lat=lat2d.ravel()[valid],
            lon=lon2d.ravel()[valid],
            rows=rows2d.ravel()[valid],
            cols=cols2d.ravel()[valid],
            tp_mm=tp[valid],
        )

    def _feature(
        self, name: str, tile: xr.Dataset, lat2d: np.ndarray, lon2d: np.ndarray, time: pd.Timestamp
    ) -> list[np.ndarray]:
        return feature_columns(
            name, tile, lat2d, lon2d, time, normaliser=self.normaliser, coord_stats=self._coord_stats
        )


def feature_columns(
    name: str,
    values: xr.Dataset,
    lat: np.ndarray,
    lon: np.ndarray,
    time: pd.Timestamp | None,
    *,
    normaliser: Normaliser,
    coord_stats: dict[str, tuple[float, float]],
) -> list[np.ndarray]:
    """The model-input column(s) of one feature at points ``lat, lon`` (degrees, any common shape).

    The one implementation shared by training task sets and :func:`climate_bnnp.predict`.

    Args:
        name: a key of :data:`FEATURE_WIDTHS`.
        values: the covariates at the same points (variables such as ``t2m`` in physical units).
        time: the time stamp (for ``hour`` and ``season``).
        normaliser: z-scores the variable features.
        coord_stats: ``{"lat"|"lon": (mean, std)}`` of the training grid (for ``lat``/``lon`` features).
    """
    shape = np.shape(lat)
    if name in ("lat", "lon"):
        mean, std = coord_stats[name]
        return [((lat if name == "lat" else lon) - mean) / std]
    if name in _VARIABLE_FEATURES:
        return [np.asarray(normaliser.forward(name, values[name].values.astype(np.float64)))]
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    if name == "xyz":
        return [np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)]
    if name == "sincos_lon":
        return [np.sin(lam), np.cos(lam)]
    if name == "hour":
        angle = 2 * np.pi * (time.hour + time.minute / 60) / 24
    else:  # season
        angle = 2 * np.pi * (time.day_of_year - 1) / 365.25
    return [np.full(shape, np.sin(angle)), np.full(shape, np.cos(angle))]


def train_source(
    taskset: Era5TaskSet, *, subsample_fraction: float = 0.25, split: str = "train"
) -> TaskSource:
    """A :data:`~climate_bnnp.tasks.TaskSource` over one split: a uniformly random task, subsampled.

    Each call picks one task of ``split`` uniformly, then keeps ``max(2, round(fraction N))`` of its valid
    cells drawn without replacement (the paper keeps 25 %). :class:`~climate_bnnp.tasks.TaskSampler` then
    splits the points into context and targets.

    Raises:
        ValueError: a fraction outside (0, 1] or an empty split.
    """
    if not 0.0 < subsample_fraction <= 1.0:
        raise ValueError(f"subsample_fraction must lie in (0, 1], got {subsample_fraction}.")
    keys = taskset.keys(split)
    if not keys:
        raise ValueError(f"the store's {split!r} split has no tasks; rebuild it with more time steps.")

    def source(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        for _ in range(1000):  # tiles with fewer than 2 valid cells (e.g. all sea in ERA5-Land) are redrawn
            task = taskset.task(keys[int(rng.integers(len(keys)))])
            n = len(task.x)
            if n >= 2:
                break
        else:
            raise ValueError(f"no task of the {split!r} split has 2 valid cells in 1000 draws.")
        keep = rng.choice(n, size=min(n, max(2, round(subsample_fraction * n))), replace=False)
        return task.x[keep], task.y[keep]

    return source
