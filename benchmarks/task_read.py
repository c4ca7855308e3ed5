"""Time reading one task from a Zarr task store built from the bundled ERA5 sample.

Usage: ``python benchmarks/task_read.py [--tile-size 64] [--repeats 50] [--json out.json]``

Builds a store from the real sample (standardised, 16/4/4 split) in a temporary folder, then reads random
tasks with ``read_task`` and prints the build time and the per-task read time (median / p90 / max, ms),
for a tiled store and for a whole-globe single-tile store. Compare the read time with one training step to
show that reading is not the bottleneck. ERA5 single-level data. Source: ECMWF. (Hersbach et al. 2020,
CC-BY 4.0)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from climate_bnnp.data import (
    build_task_store,
    fit_input_schema,
    list_tasks,
    open_sample,
    open_task_store,
    read_task,
    split_times,
    standardise,
)


def measure(ds, folder: Path, tile_size: int | None, repeats: int, seed: int) -> dict:
    split = split_times(ds["time"].values, n_val=4, n_test=4)
    schema = fit_input_schema(ds, ["xyz", "t2m"], times=split["train"])
    start = time.perf_counter()
    path = build_task_store(
        ds, folder / f"tasks_{tile_size}.zarr", tile_size=tile_size, split=split, schema=schema, attrs={}
    )
    build_s = time.perf_counter() - start
    store = open_task_store(path)
    tasks = list_tasks(store, "train")
    rng = np.random.default_rng(seed)
    times = []
    for k in rng.integers(len(tasks), size=repeats):
        t0 = time.perf_counter()
        task = read_task(store, tasks[k])
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    return {
        "tile_size": tile_size,
        "n_train_tasks": len(tasks),
        "cells_per_task": int(task.sizes["latitude"] * task.sizes["longitude"]),
        "variables": sorted(store.data_vars),
        "build_s": round(build_s, 3),
        "read_ms_median": round(float(np.median(ms)), 3),
        "read_ms_p90": round(float(np.percentile(ms, 90)), 3),
        "read_ms_max": round(float(ms.max()), 3),
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    ds = standardise(open_sample(), source="sample")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for tile_size in (args.tile_size, None):
            res = measure(ds, Path(tmp), tile_size, args.repeats, args.seed)
            results.append(res)
            print(
                f"tile_size={tile_size}: {res['n_train_tasks']} train tasks of {res['cells_per_task']} "
                f"cells x {len(res['variables'])} variables; build {res['build_s']:.2f} s; read one task: "
                f"median {res['read_ms_median']:.2f} ms, p90 {res['read_ms_p90']:.2f} ms, "
                f"max {res['read_ms_max']:.2f} ms"
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
