"""Gridded prediction datasets of ERA5 test tasks (numpy/xarray; what the pipeline writes as Zarr).

:func:`predictions_dataset` scatters each test task's predictive samples (in mm) back onto the store's grid:
one ``(latitude, longitude)`` field per task and quantity, NaN outside the task's tile and at invalid cells.

Dataset layout:

* per cell ``(task, latitude, longitude)``: ``truth`` (mm), ``mean``, ``std``, ``q05``, ``q95`` (mm, of the
  observation samples), ``is_context`` (bool), and ``samples`` ``(task, sample, latitude, longitude)``;
* per task ``(task,)``: coordinates ``time``, ``protocol``, ``tile_lat``, ``tile_lon``; variables
  ``num_context``, ``num_target`` and one variable per score passed in (e.g. ``ppd``, ``mae_mm``);
* ``held_out_region`` ``(latitude, longitude)`` bool when a mask is given;
* attributes: ``attribution`` and anything passed in ``attrs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .era5 import Era5TaskSet
from .era5_eval import Era5TestTask

__all__ = ["FIELDS", "predictions_dataset"]

FIELDS = ("truth", "mean", "std", "q05", "q95")
"""Per-cell fields, all in mm."""


def predictions_dataset(
    taskset: Era5TaskSet,
    tests: Sequence[Era5TestTask],
    samples_mm: Sequence[np.ndarray],
    scores: Sequence[Mapping[str, float]],
    *,
    num_keep: int = 2,
    held_out: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Assemble per-task predictions into one gridded dataset.

    Args:
        taskset: the store's tasks (for the grid and times).
        tests: the test tasks.
        samples_mm: per task, observation samples ``(S, N)`` in mm at **all** N points of the task
            (context and targets, in the task's point order).
        scores: per task, scalar scores (same keys for every task).
        num_keep: number of samples kept per cell for maps.
        held_out: optional ``(n_lat, n_lon)`` bool mask of the held-out region.
        attrs: extra dataset attributes (JSON-able).

    Returns:
        The dataset described in the module docstring (numpy-backed).
    """
    if not (len(tests) == len(samples_mm) == len(scores)):
        raise ValueError(
            f"tests, samples_mm and scores must have one entry per task, got "
            f"{len(tests)}, {len(samples_mm)}, {len(scores)}."
        )
    store = taskset.store
    lat, lon = store["latitude"].values, store["longitude"].values
    shape = (len(tests), lat.size, lon.size)
    fields = {name: np.full(shape, np.nan, dtype=np.float32) for name in FIELDS}
    kept = np.full((len(tests), num_keep, lat.size, lon.size), np.nan, dtype=np.float32)
    is_context = np.zeros(shape, dtype=bool)
    for i, (test, obs) in enumerate(zip(tests, samples_mm, strict=True)):
        task = test.task
        if obs.shape[1:] != (len(task.x),):
            raise ValueError(f"samples of task {i} must be (S, {len(task.x)}), got {obs.shape}.")
        rows, cols = task.rows, task.cols
        q05, q95 = np.quantile(obs, [0.05, 0.95], axis=0)  # (N,) each
        values = {"truth": task.tp_mm, "mean": obs.mean(0), "std": obs.std(0), "q05": q05, "q95": q95}
        for name in FIELDS:
            fields[name][i, rows, cols] = values[name]
        kept[i, :, rows, cols] = obs[:num_keep].T  # (N, num_keep) at the task's cells
        is_context[i, rows[test.context], cols[test.context]] = True
    dims = ("task", "latitude", "longitude")
    ds = xr.Dataset(
        {name: (dims, fields[name], {"units": "mm"}) for name in FIELDS},
        coords={
            "latitude": lat,
            "longitude": lon,
            "task": np.arange(len(tests)),
            "time": ("task", store["time"].values[[t.task.key.time for t in tests]]),
            "protocol": ("task", np.array([t.protocol for t in tests], dtype=object)),  # variable-length str
            "tile_lat": ("task", np.array([t.task.key.tile_lat for t in tests], dtype=np.int32)),
            "tile_lon": ("task", np.array([t.task.key.tile_lon for t in tests], dtype=np.int32)),
            "sample": np.arange(num_keep),
        },
    )
    ds["samples"] = (("task", "sample", "latitude", "longitude"), kept, {"units": "mm"})
    ds["is_context"] = (dims, is_context)
    ds["num_context"] = ("task", np.array([len(t.context) for t in tests], dtype=np.int64))
    ds["num_target"] = ("task", np.array([len(t.target) for t in tests], dtype=np.int64))
    for name in scores[0] if scores else ():
        ds[name] = ("task", np.array([float(s[name]) for s in scores]))
    if held_out is not None:
        ds["held_out_region"] = (("latitude", "longitude"), np.asarray(held_out, dtype=bool))
    ds["latitude"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
    ds["longitude"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    ds.attrs = {"attribution": store.attrs.get("attribution", ""), **dict(attrs or {})}
    return ds
