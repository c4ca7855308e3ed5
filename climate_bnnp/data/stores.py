"""Zarr v3 task stores: one task = one time step of one tile.

A store holds the standardised variables in physical units (degC, mm, ...), chunked ``(1, tile, tile)``
along ``(time, latitude, longitude)``, so reading one task reads exactly one chunk per variable. Tiles are
``tile_size x tile_size`` cells counted from the south-west corner (edge tiles may be smaller);
``tile_size=None`` makes the whole region one tile.

Store attributes (all JSON; no foreign files inside the store):

* ``climate_bnnp_store``: store format version (int, currently 2: with ``input_schema``);
* ``tile_size``: int or null; ``n_tiles``: ``[n_tile_lat, n_tile_lon]``;
* ``split``: ``{"train": [...], "val": [...], "test": [...]}`` time positions; ``split_times``: first and
  last ISO time of each block;
* ``input_schema``: :meth:`InputSchema.to_dict` (features, normaliser fitted on the train split, coordinate
  statistics, units, target and its period): what a model trained on the store consumes;
* ``grid``: ``n_lat, n_lon, lat_min, lat_max, lon_min, lon_max, dlat, dlon`` (degrees);
* ``source``, ``attribution``, ``tp_accumulation`` (+ ``provenance`` for the sample) from the standardised
  dataset; anything passed in ``attrs`` (e.g. ``request``, ``region``) is added, and wins on a clash.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from climate_bnnp.data.schema import InputSchema
from climate_bnnp.data.splits import SPLIT_NAMES, check_split
from climate_bnnp.data.standardise import CANONICAL_DIMS

__all__ = [
    "STORE_VERSION",
    "TaskKey",
    "build_task_store",
    "write_zarr_atomic",
    "list_tasks",
    "open_task_store",
    "read_task",
    "task_slices",
    "tile_slices",
]

STORE_VERSION = 2


class TaskKey(NamedTuple):
    """Address of one task: a time position and a tile index (south-to-north, west-to-east)."""

    time: int
    tile_lat: int
    tile_lon: int


def tile_slices(n: int, tile_size: int | None) -> list[slice]:
    """Slices cutting an axis of length ``n`` into tiles of ``tile_size`` (the last may be shorter)."""
    if tile_size is None:
        return [slice(0, n)]
    if tile_size < 1:
        raise ValueError(f"tile_size must be a positive int or None (whole region), got {tile_size}.")
    return [slice(i, min(i + tile_size, n)) for i in range(0, n, tile_size)]


def _grid_attrs(ds: xr.Dataset) -> dict[str, Any]:
    lat, lon = ds["latitude"].values, ds["longitude"].values

    def step(a: np.ndarray) -> float:
        return float(np.median(np.diff(a))) if a.size > 1 else float("nan")

    return {
        "n_lat": int(lat.size),
        "n_lon": int(lon.size),
        "lat_min": float(lat.min()),
        "lat_max": float(lat.max()),
        "lon_min": float(lon.min()),
        "lon_max": float(lon.max()),
        "dlat": step(lat),
        "dlon": step(lon),
    }


def _replace_dir(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` folder to ``path``, replacing an old store (rename is atomic per step)."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        path.rename(old)
    tmp.rename(path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_zarr_atomic(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` as a Zarr v3 store (unconsolidated) to a temporary folder beside ``path``, then rename
    it into place: a failed or killed write never leaves a store that looks complete, and an old store at
    ``path`` is only replaced once the new one is finished. The temporary folders of an earlier killed write
    to ``path`` are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (*path.parent.glob(f".{path.name}.tmp-*"), *path.parent.glob(f".{path.name}.old-*")):
        shutil.rmtree(stale, ignore_errors=True)  # leftovers of a killed write: never data, clean them up
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        ds.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False, compute=False).compute()
        _replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def build_task_store(
    ds: xr.Dataset,
    path: str | Path,
    *,
    tile_size: int | None,
    split: Mapping[str, Any],
    schema: InputSchema,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write a standardised dataset as a Zarr v3 task store, out-of-core.

    The dataset is rechunked lazily to ``(1, tile, tile)`` and written chunk by chunk by dask into a
    temporary folder beside ``path``, which is then renamed to ``path`` (a killed build leaves no store
    that looks complete).

    Args:
        ds: standardised dataset (:func:`~climate_bnnp.data.standardise.standardise`), ideally dask-backed.
        path: target store folder (replaced if it exists).
        tile_size: tile edge in grid cells, or ``None`` for one tile covering the whole region.
        split: ``{"train", "val", "test"}`` -> time positions (:func:`~climate_bnnp.data.splits.split_times`).
        schema: the models' input schema (:func:`~climate_bnnp.data.fit_input_schema` on the train split).
        attrs: extra JSON-able attributes, e.g. ``{"request": CDSRequest.to_dict(), "region": "..."}``.

    Returns:
        The store path.

    Raises:
        ValueError: non-canonical dims, a bad split, or attributes that are not JSON-able / lack an
            attribution.
    """
    path = Path(path)
    bad = [v for v in ds.data_vars if ds[v].dims not in (CANONICAL_DIMS, ("time",))]
    if bad or tuple(d for d in CANONICAL_DIMS if d in ds.dims) != CANONICAL_DIMS:
        raise ValueError(
            f"Expected a standardised dataset with dims {CANONICAL_DIMS}; got dims {dict(ds.sizes)} "
            f"(variables with other dims: {bad}). Run standardise() first."
        )
    clean_split = check_split(split, ds.sizes["time"])
    lat_tiles = tile_slices(ds.sizes["latitude"], tile_size)
    lon_tiles = tile_slices(ds.sizes["longitude"], tile_size)
    times = ds["time"].values
    meta: dict[str, Any] = {k: v for k, v in ds.attrs.items()}
    meta.update(
        {
            "climate_bnnp_store": STORE_VERSION,
            "tile_size": tile_size,
            "n_tiles": [len(lat_tiles), len(lon_tiles)],
            "split": clean_split,
            "split_times": {
                k: [str(times[v[0]])[:19], str(times[v[-1]])[:19]] if v else []
                for k, v in clean_split.items()
            },
            "input_schema": schema.to_dict(),
            "grid": _grid_attrs(ds),
        }
    )
    meta.update(dict(attrs or {}))
    if not meta.get("attribution"):
        raise ValueError("The store needs an 'attribution' attribute (ERA5 is CC-BY); pass it in attrs.")
    try:
        meta = json.loads(json.dumps(meta))
    except (TypeError, ValueError) as err:
        raise ValueError(f"Store attributes must be JSON-able (str, numbers, lists, dicts): {err}") from err

    tile_lat = lat_tiles[0].stop - lat_tiles[0].start
    tile_lon = lon_tiles[0].stop - lon_tiles[0].start
    out = ds.chunk({"time": 1, "latitude": tile_lat, "longitude": tile_lon})
    out.attrs = meta
    for name in out.variables:
        out[name].encoding = {}
    return write_zarr_atomic(out, path)


def open_task_store(path: str | Path, *, use_dask: bool = False) -> xr.Dataset:
    """Open a task store lazily (without warnings).

    Args:
        path: the store folder.
        use_dask: ``False`` (default) gives lazily indexed arrays: ``read_task`` then reads exactly the chunks
            of one task with no dask graph overhead (about 3x faster per task). ``True`` gives dask arrays
            (one dask chunk per Zarr chunk) for whole-store computations.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if ``path`` is a Zarr store not written by :func:`build_task_store`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No task store at {path}; build it with build_task_store() first.")
    store = xr.open_zarr(path, consolidated=False, chunks={} if use_dask else None)
    store.encoding["source"] = str(path)  # names the store in read_task's messages
    version = store.attrs.get("climate_bnnp_store")
    if version != STORE_VERSION:
        raise ValueError(
            f"{path} is not a climate_bnnp task store of version {STORE_VERSION} (got {version!r}); "
            "rebuild it with build_task_store()."
        )
    return store


def list_tasks(store: xr.Dataset, split: str) -> list[TaskKey]:
    """All tasks of one split: every (time position, tile) pair, time-major.

    Args:
        store: an open task store.
        split: ``"train"``, ``"val"`` or ``"test"``.
    """
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}.")
    n_tile_lat, n_tile_lon = store.attrs["n_tiles"]
    return [
        TaskKey(t, i, j)
        for t in store.attrs["split"][split]
        for i in range(n_tile_lat)
        for j in range(n_tile_lon)
    ]


def task_slices(store: xr.Dataset, key: TaskKey | tuple[int, int, int]) -> dict[str, Any]:
    """The ``isel`` indexers of one task: ``{"time": t, "latitude": slice, "longitude": slice}``."""
    t, i, j = key
    lat = tile_slices(store.sizes["latitude"], store.attrs["tile_size"])
    lon = tile_slices(store.sizes["longitude"], store.attrs["tile_size"])
    if not (0 <= t < store.sizes["time"] and 0 <= i < len(lat) and 0 <= j < len(lon)):
        raise IndexError(
            f"Task {tuple(key)} is outside the store: time in [0, {store.sizes['time']}), "
            f"tile_lat in [0, {len(lat)}), tile_lon in [0, {len(lon)})."
        )
    return {"time": int(t), "latitude": lat[i], "longitude": lon[j]}


def read_task(store: xr.Dataset, key: TaskKey | tuple[int, int, int]) -> xr.Dataset:
    """Read one task into memory (one chunk per variable).

    Args:
        store: an open task store.
        key: ``(time position, tile_lat, tile_lon)``.

    Returns:
        In-memory dataset equal to ``store.isel(time=t, latitude=tile_lat_slice, longitude=tile_lon_slice)``
        (physical units; model inputs come from ``InputSchema.from_dict(store.attrs["input_schema"])``).

    Raises:
        IndexError: a key outside the store. ValueError: a chunk that cannot be read (a corrupt store).
    """
    try:
        return store.isel(task_slices(store, key)).load()
    except IndexError:
        raise
    except Exception as err:  # noqa: BLE001 - a codec/IO failure reads as a corrupt chunk
        raise ValueError(
            f"Task {tuple(key)}: a chunk of the task store {store.encoding.get('source', '')!s} cannot be "
            f"read ({type(err).__name__}: {err}); expected intact Zarr chunks. The store is corrupt: delete "
            "it and rebuild it (build_task_store(), or rerun the `build_tasks` rule)."
        ) from err
