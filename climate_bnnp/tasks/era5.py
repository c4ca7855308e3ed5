"""ERA5 task sets: the bridge from a Zarr task store (xarray) to model inputs (numpy, then torch).

One task is one time step of one tile of a store built by :func:`climate_bnnp.data.build_task_store`.
Its cells become points: inputs ``x (N, Dx)`` from the store's :class:`~climate_bnnp.data.InputSchema`
(the one feature implementation, shared with :func:`climate_bnnp.predict`), target ``y (N, 1)`` =
the schema's transformed, z-scored ``tp``. Cells where any feature or ``tp`` is NaN (ERA5-Land over sea)
are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..data import InputSchema, TaskKey, list_tasks, read_task, task_slices
from .sampler import TaskSource

__all__ = ["Era5Task", "Era5TaskSet", "train_source"]


@dataclass(frozen=True)
class Era5Task:
    """The valid cells of one task.

    Attributes:
        key: the task's address in the store.
        x: inputs ``(N, Dx)`` float64; y: normalised ``tp`` ``(N, 1)`` float64.
        lat, lon: cell centres ``(N,)`` in degrees. rows, cols: grid indices ``(N,)`` into the whole store.
        tp_mm: ``tp`` in mm ``(N,)`` (physical units, as stored).
        covariates: the schema's covariates ``(N,)`` each, in physical units (as stored).
        time: the task's time stamp.
    """

    key: TaskKey
    x: np.ndarray
    y: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    tp_mm: np.ndarray
    covariates: dict[str, np.ndarray]
    time: np.datetime64


class Era5TaskSet:
    """Tasks of a task store, read one chunk per variable and cached in memory.

    Args:
        store: an open task store (:func:`climate_bnnp.data.open_task_store`).
        features: optional other feature list (default: the store's schema); the store's statistics must
            cover it.
        cache: keep every task read in memory (the paper's setting, 7,304 tasks of 3,621 cells, needs about
            0.2 GB); later reads then cost no I/O.

    Raises:
        ValueError: unknown features, or variables the store lacks.
    """

    def __init__(
        self, store: xr.Dataset, features: Sequence[str] | None = None, *, cache: bool = True
    ) -> None:
        schema = InputSchema.from_dict(store.attrs["input_schema"], where="task store attribute input_schema")
        if features is not None and tuple(features) != schema.features:
            schema = schema.with_features(features)
        needed = [*schema.covariates, schema.target]
        missing = [v for v in needed if v not in store.data_vars]
        if missing:
            raise ValueError(
                f"features {list(schema.features)} need store variables {missing}, but the store has "
                f"{sorted(store.data_vars)}; drop those features or request the variables."
            )
        self.schema = schema
        self.store = store
        self.variables = needed
        self._cache: dict[TaskKey, Era5Task] | None = {} if cache else None

    @property
    def features(self) -> tuple[str, ...]:
        """Feature names in model-input order."""
        return self.schema.features

    @property
    def dim_x(self) -> int:
        """Input dimension Dx."""
        return self.schema.dim_x

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
        values = {name: tile[name].values.ravel() for name in self.schema.covariates}
        time = tile["time"].values
        x = self.schema(lat=lat2d, lon=lon2d, time=time, values=values)  # (n_lat n_lon, Dx)
        tp = tile[self.schema.target].values.astype(np.float64).ravel()  # (n_lat n_lon,)
        y = self.schema.target_forward(tp)[:, None]  # (n_lat n_lon, 1)
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
            covariates={name: v[valid] for name, v in values.items()},
            time=time,
        )


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
