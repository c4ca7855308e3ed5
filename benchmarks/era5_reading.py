"""Is reading ERA5 tasks the bottleneck of training? Time to build a batch vs one training step.

Builds the task store of a config (default configs/sample.yaml: the bundled real ERA5 sample) in a temporary
folder, or uses ``--store``, then measures with the config's model and training settings:

* cold read: the first read of each train task (Zarr, one chunk per variable) including feature building;
* batch: ``TaskSampler.sample(B)`` once every task is cached (what every later step costs);
* step: one PP-AVI step (forward, backward, Adam) on such a batch.

Usage: ``python benchmarks/era5_reading.py [--config configs/sample.yaml] [--threads 1] [--steps 20]``
Writes ``benchmarks/results/era5_reading.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from climate_bnnp.config import load_config
from climate_bnnp.data import (
    build_task_store,
    fit_input_schema,
    open_sample,
    open_task_store,
    split_times,
    standardise,
)
from climate_bnnp.models import build_model
from climate_bnnp.objectives import OBJECTIVES
from climate_bnnp.tasks import TaskSampler
from climate_bnnp.tasks.era5 import Era5TaskSet, train_source

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import median, write_json  # noqa: E402


def _sample_store(config, folder: Path) -> Path:
    data = config.data
    ds = standardise(open_sample(), source="sample")
    if data.area is not None:
        north, west, south, east = data.area
        ds = ds.sel(latitude=slice(south, north), longitude=slice(west, east))
    split = split_times(ds["time"].values, n_val=data.n_val, n_test=data.n_test)
    schema = fit_input_schema(ds, data.features, tp_transform=data.tp_transform, times=split["train"])
    names = [*schema.covariates, schema.target]
    return build_task_store(
        ds[names], folder / "tasks.zarr", tile_size=data.tile_size, split=split, schema=schema
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "sample.yaml")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--chunk-size", default="config", help="within-task chunk size: config, none or an int"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "era5_reading.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    if args.chunk_size != "config":
        chunk = None if args.chunk_size == "none" else int(args.chunk_size)
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, chunk_size=chunk))
    with tempfile.TemporaryDirectory() as tmp:
        store_path = args.store or _sample_store(config, Path(tmp))
        taskset = Era5TaskSet(open_task_store(store_path))
        keys = taskset.keys("train")
        cold = []
        for key in keys:
            tick = time.perf_counter()
            taskset.task(key)
            cold.append(time.perf_counter() - tick)
        sampler = TaskSampler(
            train_source(taskset, subsample_fraction=config.data.subsample_fraction),
            context_fraction=config.tasks.context_fraction,
            max_targets=config.tasks.max_targets,
            seed=0,
        )
        model = build_model(config.model).double()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        objective = OBJECTIVES[config.train.objective]
        batch_s, step_s = [], []
        for _ in range(args.steps):
            tick = time.perf_counter()
            batch = sampler.sample(config.train.batch_size)
            batch_s.append(time.perf_counter() - tick)
            tick = time.perf_counter()
            value = objective(
                model,
                batch,
                num_samples=config.train.num_samples,
                beta=1.0,
                chunk_size=config.train.chunk_size,
            )
            optimiser.zero_grad()
            (-value.mean()).backward()
            optimiser.step()
            step_s.append(time.perf_counter() - tick)
    result = {
        "config": str(args.config),
        "threads": args.threads,
        "train_tasks": len(keys),
        "cells_per_task": int(len(taskset.task(keys[0]).x)),
        "cold_read_s_per_task_median": median(cold),
        "batch_s_median": median(batch_s[1:]),
        "step_s_median": median(step_s[1:]),
        "batch_over_step": median(batch_s[1:]) / median(step_s[1:]),
        "chunk_size": config.train.chunk_size,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "load_average_1min": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
