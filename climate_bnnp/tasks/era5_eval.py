"""ERA5 test tasks as masks on the store's grid, and every method's predictions on that same grid.

One **test field** is one protocol applied to one test snapshot: a Dataset slice over the store's whole grid
``(latitude, longitude)`` with the truth, the covariates and two masks, ``is_context`` (observed) and
``is_target`` (scored). Each tile of the store is an independent task inside the field: its context informs
only its own cells. The test set (:func:`build_test_grid`) stacks the fields along ``task``; a method's
predictions (:func:`predict_grid`) have the same dims ``(task, latitude, longitude)`` (plus ``sample`` /
``quantile`` first), so scoring and maps read them without reshaping. The statistical unit of the scores
is one tile of one field (``unit``), paired across methods.

Protocols (each with its own seeded generator, so adding one never changes another's draws):

* ``random``: every tile; context proportion ``π ~ U(data.test_context_fraction)`` of the tile's valid cells
  (paper: U(0.025, 0.25)); the other valid cells are targets.
* ``sparse``: the same with ``π ~ U(data.sparse_context_fraction)`` (default 0.5–2.5 %): a sparse network.
* ``gap``: in every tile, a contiguous square of ``data.gap_size`` cells a side is hidden from the context and
  scored (the targets are the square's cells); the context, ``π ~ U(data.test_context_fraction)`` of the
  tile's cells, is drawn outside the square. A radar or satellite gap.
* ``held_out``: the tiles that hold a cell of the held-out region (a country mask); the context is drawn only
  outside the region, and every other valid cell is a target ("swissless").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..config import DataConfig
from ..data import InputSchema, country_mask, tile_slices
from ..data.stores import SPLIT_NAMES

__all__ = [
    "PROTOCOLS",
    "EvalProtocols",
    "build_test_grid",
    "cells_on_tile",
    "held_out_mask",
    "predict_grid",
    "tile_inputs",
    "tile_units",
]

PROTOCOLS = ("random", "sparse", "gap", "held_out")


@dataclass(frozen=True, kw_only=True)
class EvalProtocols:
    """The test protocols' settings (see the module docstring).

    Attributes:
        context_fraction: ``(a, b)`` range of the context proportion (random, gap and held_out).
        sparse_context_fraction: ``(a, b)`` for the sparse protocol.
        gap_size: side of the hidden square in cells (None: no gap protocol).
        held_out: boolean ``(n_lat, n_lon)`` region mask over the store's grid (None: no held-out protocol).
        seed: base seed of the draws.
    """

    context_fraction: tuple[float, float] = (0.025, 0.25)
    sparse_context_fraction: tuple[float, float] | None = (0.005, 0.025)
    gap_size: int | None = 8
    held_out: np.ndarray | None = None
    seed: int = 69

    @classmethod
    def from_config(cls, data: DataConfig, store: xr.Dataset) -> EvalProtocols:
        """The protocols of a pipeline's data config on a task store (its held-out country as a mask)."""
        return cls(
            context_fraction=data.test_context_fraction,
            sparse_context_fraction=data.sparse_context_fraction,
            gap_size=data.gap_size,
            held_out=held_out_mask(store, data.held_out_country, data.held_out_bbox),
            seed=data.eval_seed,
        )

    def names(self) -> tuple[str, ...]:
        """The protocols these settings enable, in :data:`PROTOCOLS` order."""
        off = {"sparse": self.sparse_context_fraction is None, "gap": self.gap_size is None,
               "held_out": self.held_out is None}  # fmt: skip
        return tuple(p for p in PROTOCOLS if not off.get(p, False))


def _context_count(rng: np.random.Generator, fraction: tuple[float, float], n: int, available: int) -> int:
    """``⌊π n⌋`` with ``π ~ U(fraction)``, at least 1 and at most ``available``."""
    return min(available, max(1, int(np.floor(rng.uniform(*fraction) * n))))


def _tile_masks(
    protocol: str, valid: np.ndarray, region: np.ndarray, settings: EvalProtocols, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(is_context, is_target)`` over one tile's cells ``(h, w)``, or None when the tile is no task."""
    n = int(valid.sum())
    if n < 2:
        return None
    if protocol == "held_out" and not (region & valid).any():
        return None
    target = np.zeros_like(valid)
    if protocol == "gap":
        size = min(settings.gap_size, *valid.shape)
        i = int(rng.integers(valid.shape[0] - size + 1))
        j = int(rng.integers(valid.shape[1] - size + 1))
        target[i : i + size, j : j + size] = True
        target &= valid
        allowed = valid & ~target
    elif protocol == "held_out":
        allowed = valid & ~region
    else:
        allowed = valid
    fraction = settings.sparse_context_fraction if protocol == "sparse" else settings.context_fraction
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0 or (protocol == "gap" and not target.any()):
        return None
    num = _context_count(rng, fraction, n, min(candidates.size, n - 1))
    context = np.zeros(valid.size, bool)
    context[rng.choice(candidates, size=num, replace=False)] = True
    context = context.reshape(valid.shape)
    if protocol != "gap":
        target = valid & ~context
    return context, target


def build_test_grid(
    store: xr.Dataset, schema: InputSchema, *, split: str = "test", settings: EvalProtocols | None = None
) -> xr.Dataset:
    """The fixed test set: one field per (protocol, snapshot of ``split``), on the store's grid.

    Args:
        store: an open task store (:func:`climate_bnnp.data.open_task_store`).
        schema: the store's input schema (its covariates and target are read).
        split: which split's snapshots.
        settings: the protocols (default :class:`EvalProtocols`()).

    Returns:
        Dataset with dims ``(task, latitude, longitude)``: ``tp_truth`` (mm), the covariates (physical
        units), ``is_context``, ``is_target``; coordinates ``protocol (task)``, ``time (task)``,
        ``tile (latitude, longitude)`` (tile index, row-major); ``in_held_out_region (latitude, longitude)``.

    Raises:
        ValueError: an unknown split, a region mask of the wrong shape, or a region with no valid cell.
    """
    settings = settings or EvalProtocols()
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}.")
    grid = (store.sizes["latitude"], store.sizes["longitude"])
    region = np.zeros(grid, bool) if settings.held_out is None else np.asarray(settings.held_out, bool)
    if region.shape != grid:
        raise ValueError(f"held_out mask must have the store's grid shape {grid}, got {region.shape}.")
    names = [schema.target, *schema.covariates]
    snapshots = store[names].isel(time=list(store.attrs["split"][split])).load()
    valid = np.isfinite(snapshots.to_array()).all("variable").values  # (time, lat, lon)
    lat_tiles = tile_slices(grid[0], store.attrs["tile_size"])
    lon_tiles = tile_slices(grid[1], store.attrs["tile_size"])
    fields = []
    for index, protocol in enumerate(settings.names()):
        rng = np.random.default_rng([settings.seed, index])
        for t in range(snapshots.sizes["time"]):
            context, target = np.zeros(grid, bool), np.zeros(grid, bool)
            for rows in lat_tiles:
                for cols in lon_tiles:
                    masks = _tile_masks(protocol, valid[t, rows, cols], region[rows, cols], settings, rng)
                    if masks is not None:
                        context[rows, cols], target[rows, cols] = masks
            fields.append((protocol, t, context, target))
    if settings.held_out is not None and not any(f[3].any() for f in fields if f[0] == "held_out"):
        raise ValueError(
            f"the held-out region has no valid cell in any {split!r} snapshot; check the country lies inside "
            "the store's region (and over land for ERA5-Land)."
        )
    times = [t for _, t, _, _ in fields]
    out = snapshots.isel(time=times)
    stamps = out["time"].values
    out = out.drop_vars("time").rename_dims(time="task").rename({schema.target: "tp_truth"})
    tile = np.add.outer(
        np.repeat(np.arange(len(lat_tiles)), [s.stop - s.start for s in lat_tiles]) * len(lon_tiles),
        np.repeat(np.arange(len(lon_tiles)), [s.stop - s.start for s in lon_tiles]),
    )  # (lat, lon) row-major tile index
    out = out.assign(
        is_context=(("task", "latitude", "longitude"), np.stack([f[2] for f in fields])),
        is_target=(("task", "latitude", "longitude"), np.stack([f[3] for f in fields])),
    ).assign_coords(
        task=np.arange(len(fields)),
        time=("task", stamps),
        protocol=("task", np.array([f[0] for f in fields], dtype=object)),
        tile=(("latitude", "longitude"), tile),
        in_held_out_region=(("latitude", "longitude"), region),
    )
    out.attrs = {
        "input_schema": json.dumps(schema.to_dict(), sort_keys=True),
        "attribution": store.attrs["attribution"],
        "tile_size": store.attrs["tile_size"],
        "split": split,
        "eval_seed": settings.seed,
    }
    return out


def held_out_mask(
    store: xr.Dataset, country: str | None, bbox: tuple[float, float, float, float] | None = None
) -> np.ndarray | None:
    """The held-out region over the store's grid (:func:`climate_bnnp.data.country_mask`), or None."""
    if country is None:
        return None
    return country_mask(store["latitude"].values, store["longitude"].values, country, bbox=bbox)


def tile_units(tests: xr.Dataset) -> list[tuple[int, slice, slice]]:
    """The test units in a fixed order: ``(task, latitude slice, longitude slice)`` of every tile that holds a
    target. Unit ``i`` is predicted with seed ``eval_seed + i``."""
    grid = (tests.sizes["latitude"], tests.sizes["longitude"])
    lat_tiles = tile_slices(grid[0], tests.attrs["tile_size"])
    lon_tiles = tile_slices(grid[1], tests.attrs["tile_size"])
    target = tests["is_target"].values
    return [
        (k, rows, cols)
        for k in range(tests.sizes["task"])
        for rows in lat_tiles
        for cols in lon_tiles
        if target[k, rows, cols].any()
    ]


def tile_inputs(tests: xr.Dataset, unit: tuple[int, slice, slice], covariates: Sequence[str]) -> xr.Dataset:
    """What a method sees of one test unit: the tile's covariates and ``tp`` (mm) at the context cells, NaN
    elsewhere, on the tile's ``(latitude, longitude)`` with the scalar ``time`` coordinate."""
    k, rows, cols = unit
    tile = tests.isel(task=k, latitude=rows, longitude=cols)
    tp = tile["tp_truth"].where(tile["is_context"]).assign_attrs(units="mm")
    return tile[list(covariates)].assign(tp=tp).drop_vars(["protocol", "tile", "in_held_out_region", "task"])


def cells_on_tile(cells: xr.Dataset, valid: np.ndarray, tile: xr.Dataset) -> xr.Dataset:
    """A prediction along ``cell`` of a tile's ``valid`` cells (C order) put on the tile's grid, NaN at the
    other cells: for methods that work on points (a GP, a ConvNP's decoder) inside a :data:`PredictTile`.

    Args:
        cells: the prediction, each variable with ``cell`` last. valid: ``(h, w)`` bool, True at the cells
            predicted. tile: the tile (its ``latitude`` and ``longitude`` coordinates).
    """
    grid = {}
    for name, var in cells.data_vars.items():
        full = np.full((*var.shape[:-1], *valid.shape), np.nan)
        full[..., valid] = var.values
        grid[name] = ((*var.dims[:-1], "latitude", "longitude"), full, var.attrs)
    coords = {"latitude": tile["latitude"], "longitude": tile["longitude"]}
    coords |= {c: cells[c] for c in ("quantile", "sample") if c in cells.coords}
    return xr.Dataset(grid, coords=coords, attrs=cells.attrs)


PredictTile = Callable[[xr.Dataset, int], xr.Dataset]
"""``(tile, seed) -> prediction``: ``tile`` has ``tp`` (mm, NaN except at the context) and the covariates on
the tile's ``(latitude, longitude)``; the prediction holds variables over those dims (plus leading ``sample``
or ``quantile``), e.g. ``climate_bnnp.predict(..., predict_at="all")``."""


def predict_grid(
    tests: xr.Dataset,
    predict_tile: PredictTile,
    *,
    covariates: Sequence[str],
    dtype: str = "float32",
    attrs: Mapping[str, object] | None = None,
) -> xr.Dataset:
    """Every test unit predicted by ``predict_tile``, written into one Dataset on the test grid.

    Args:
        tests: :func:`build_test_grid` output.
        predict_tile: the method (see :data:`PredictTile`).
        covariates: the covariates the method receives.
        dtype: storage dtype of the predicted variables (float32 halves the store; scores move by ~1e-7).
        attrs: attributes added to the first prediction's (``method``, ``note``, ...).

    Returns:
        The predicted variables with dims ``(task, latitude, longitude)`` (``sample``/``quantile`` first),
        NaN outside the predicted tiles, plus the test set's truth, masks and coordinates (not the
        covariates); the attributes of the test set, then of the first prediction, then ``attrs``.
    """
    seed = int(tests.attrs["eval_seed"])
    out: dict[str, np.ndarray] = {}
    dims: dict[str, tuple[str, ...]] = {}
    first_attrs: dict = {}
    var_attrs: dict[str, dict] = {}
    coords: dict[str, np.ndarray] = {}
    for i, (k, rows, cols) in enumerate(tile_units(tests)):
        pred = predict_tile(tile_inputs(tests, (k, rows, cols), covariates), seed + i)
        if not out:
            first_attrs = dict(pred.attrs)
            for name, var in pred.data_vars.items():
                lead = tuple(d for d in var.dims if d not in ("latitude", "longitude"))
                dims[name] = (*lead, "task", "latitude", "longitude")
                shape = (*(var.sizes[d] for d in lead), tests.sizes["task"], *tests["tile"].shape)
                out[name] = np.full(shape, np.nan, dtype=dtype)
                var_attrs[name] = dict(var.attrs)
            coords = {c: pred[c].values for c in ("sample", "quantile") if c in pred.coords}
        for name, var in pred.data_vars.items():
            lead = dims[name][:-3]
            out[name][..., k, rows, cols] = var.transpose(*lead, "latitude", "longitude").values
    result = (
        tests.drop_vars(list(covariates))
        .assign({n: (dims[n], a, var_attrs[n]) for n, a in out.items()})
        .assign_coords(coords)
    )
    result.attrs = dict(tests.attrs) | first_attrs | dict(attrs or {})
    return result
