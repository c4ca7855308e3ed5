"""ERA5 test tasks (random and held-out-region context) as the Datasets :func:`climate_bnnp.predict` reads.

Test protocols (docs/pipeline.md, "Evaluation"):

* ``random``: every task of the test split; context proportion ``π ~ U(a, b)`` (paper: U(0.025, 0.25)),
  ``⌊π N⌋`` context cells drawn uniformly from the task's N valid cells, the other cells are targets;
* ``held_out``: every test task whose tile holds a cell of the held-out region (a country mask); the
  context (again ``⌊π N⌋`` cells, ``π`` a proportion of *all* N cells) is drawn only from cells outside the
  region, so the targets include every cell of the region ("swissless").

Both draws use one seeded Generator, so the set is fixed for a given store, seed and mask.

:meth:`Era5TestTask.dataset` turns a test task into what a user would hand to ``climate_bnnp.predict``: the
task's cells as points along ``cell`` with ``tp`` in mm observed at the context and NaN at the targets, the
covariates in physical units and the time stamp, so the pipeline predicts through the one public engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..data import VARIABLES, country_mask
from .era5 import Era5Task, Era5TaskSet

__all__ = ["PROTOCOLS", "Era5TestTask", "build_test_tasks", "held_out_mask", "prediction_store"]

PROTOCOLS = ("random", "held_out")


@dataclass(frozen=True)
class Era5TestTask:
    """One test task: a task of the store and its fixed context/target split.

    Attributes:
        task: the task's valid cells. protocol: ``"random"`` or ``"held_out"``.
        context, target: disjoint index arrays into the task's points; together all points.
    """

    task: Era5Task
    protocol: str
    context: np.ndarray
    target: np.ndarray

    @property
    def xc(self) -> np.ndarray:
        """Context inputs ``(Nc, Dx)``."""
        return self.task.x[self.context]

    @property
    def yc(self) -> np.ndarray:
        """Context outputs ``(Nc, 1)`` (normalised tp)."""
        return self.task.y[self.context]

    @property
    def xt(self) -> np.ndarray:
        """Target inputs ``(Nt, Dx)``."""
        return self.task.x[self.target]

    @property
    def yt(self) -> np.ndarray:
        """Target outputs ``(Nt, 1)`` (normalised tp)."""
        return self.task.y[self.target]

    @property
    def is_context(self) -> np.ndarray:
        """``(N,)`` bool, True at the context points."""
        mask = np.zeros(len(self.task.x), dtype=bool)
        mask[self.context] = True
        return mask

    def dataset(self) -> xr.Dataset:
        """The task as ``predict`` input: points along ``cell`` (latitude/longitude coordinates, a scalar
        ``time``), ``tp`` in mm at the context and NaN at the targets, covariates in physical units; plus
        the truth ``tp_truth`` (mm) and ``is_context`` for scoring."""
        task = self.task
        tp = np.where(self.is_context, task.tp_mm, np.nan)
        data = {"tp": tp, "tp_truth": task.tp_mm} | task.covariates
        ds = xr.Dataset(
            {name: ("cell", np.asarray(v), {"units": VARIABLES[name.removesuffix("_truth")].units})
             for name, v in data.items()},
            coords={"latitude": ("cell", task.lat), "longitude": ("cell", task.lon), "time": task.time},
        )  # fmt: skip
        ds["is_context"] = ("cell", self.is_context)
        return ds


def build_test_tasks(
    taskset: Era5TaskSet,
    *,
    split: str = "test",
    context_fraction: tuple[float, float] = (0.025, 0.25),
    seed: int = 69,
    held_out: np.ndarray | None = None,
) -> list[Era5TestTask]:
    """The fixed test set: the ``random`` protocol on every task, then ``held_out`` where it applies.

    Args:
        taskset: the store's tasks.
        split: which split to draw from.
        context_fraction: range ``(a, b)`` of the context proportion.
        seed: seed of the draws.
        held_out: optional boolean ``(n_lat, n_lon)`` mask over the store's whole grid (True inside the
            held-out region, e.g. :func:`climate_bnnp.data.country_mask`).

    Returns:
        Random-protocol tasks (store order), then held-out tasks (tiles with at least one valid region cell).

    Raises:
        ValueError: a mask of the wrong shape, or a held-out region with no valid cell in the split.
    """
    rng = np.random.default_rng(seed)
    low, high = context_fraction
    grid = (taskset.store.sizes["latitude"], taskset.store.sizes["longitude"])
    if held_out is not None and np.shape(held_out) != grid:
        raise ValueError(f"held_out mask must have the store's grid shape {grid}, got {np.shape(held_out)}.")
    tasks = [taskset.task(key) for key in taskset.keys(split)]
    tasks = [t for t in tasks if len(t.x) >= 2]
    out = []
    for task in tasks:
        n = len(task.x)
        perm = rng.permutation(n)
        num = min(n - 1, max(1, int(np.floor(rng.uniform(low, high) * n))))
        out.append(Era5TestTask(task, "random", np.sort(perm[:num]), np.sort(perm[num:])))
    if held_out is None:
        return out
    count = 0
    for task in tasks:
        inside = np.asarray(held_out)[task.rows, task.cols]  # (N,) bool
        if not inside.any():
            continue
        n = len(task.x)
        outside = np.flatnonzero(~inside)
        num = min(len(outside), max(1, int(np.floor(rng.uniform(low, high) * n))))
        context = np.sort(rng.choice(outside, size=num, replace=False))
        target = np.setdiff1d(np.arange(n), context)
        out.append(Era5TestTask(task, "held_out", context, target))
        count += 1
    if count == 0:
        raise ValueError(
            f"the held-out region has no valid cell in any {split!r} task; check the country lies inside "
            "the store's region (and over land for ERA5-Land)."
        )
    return out


def held_out_mask(
    taskset: Era5TaskSet, country: str | None, bbox: tuple[float, float, float, float] | None = None
) -> np.ndarray | None:
    """The held-out region over the store's grid (:func:`climate_bnnp.data.country_mask`), or None."""
    if country is None:
        return None
    store = taskset.store
    return country_mask(store["latitude"].values, store["longitude"].values, country, bbox=bbox)


def prediction_store(
    tests: Sequence[Era5TestTask],
    predictions: Sequence[xr.Dataset],
    *,
    seed: int,
    held_out: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """One Dataset of the predictions of every test task, each on its own cells along ``cell``.

    Args:
        tests: the test tasks. predictions: per task, the prediction Dataset along ``cell`` (from
            ``climate_bnnp.predict`` on :meth:`Era5TestTask.dataset`, or a baseline in the same layout).
        seed: the base seed (task ``i`` was predicted with ``seed + i``).
        held_out: optional ``(n_lat, n_lon)`` mask of the held-out region over the store's grid.
        attrs: extra attributes (``method``, ``note``, ...).

    Returns:
        Per cell: the prediction's variables, ``tp_truth`` (mm), ``is_context`` and ``in_held_out_region``,
        with coordinates ``task``, ``latitude``, ``longitude``; per task (dim ``task_index``): ``time``,
        ``protocol``, ``tile_lat``, ``tile_lon``, ``num_context``, ``num_target``, ``seed``; the attributes of
        the first prediction (provenance, input schema, attribution) plus ``attrs``.
    """
    if len(tests) != len(predictions) or not tests:
        raise ValueError(f"need one prediction per test task, got {len(predictions)} for {len(tests)} tasks.")
    parts = []
    for i, (test, pred) in enumerate(zip(tests, predictions, strict=True)):
        if pred.sizes["cell"] != len(test.task.x):
            raise ValueError(f"prediction {i} has {pred.sizes['cell']} cells, its task {len(test.task.x)}.")
        inside = (
            np.zeros(len(test.task.x), bool) if held_out is None else held_out[test.task.rows, test.task.cols]
        )
        part = pred.drop_vars("time", errors="ignore").assign(
            tp_truth=("cell", test.task.tp_mm, {"units": "mm"}),
            is_context=("cell", test.is_context),
            in_held_out_region=("cell", np.asarray(inside, bool)),
        )
        parts.append(part.assign_coords(task=("cell", np.full(len(test.task.x), i))))
    out = xr.concat(parts, dim="cell", data_vars="minimal", coords="minimal", compat="override",
                    combine_attrs="override")  # fmt: skip
    per_task = {
        "time": np.array([test.task.time for test in tests], dtype="datetime64[ns]"),
        "protocol": np.array([test.protocol for test in tests], dtype=object),
        "tile_lat": np.array([test.task.key.tile_lat for test in tests], dtype=np.int32),
        "tile_lon": np.array([test.task.key.tile_lon for test in tests], dtype=np.int32),
        "num_context": np.array([len(test.context) for test in tests], dtype=np.int64),
        "num_target": np.array([len(test.target) for test in tests], dtype=np.int64),
        "seed": seed + np.arange(len(tests), dtype=np.int64),
    }
    out = out.assign({k: ("task_index", v) for k, v in per_task.items()})
    out.attrs = dict(predictions[0].attrs) | dict(attrs or {})
    return out
