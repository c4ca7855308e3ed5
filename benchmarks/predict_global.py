"""Benchmark: ``climate_bnnp.predict`` on a global 0.25 deg grid (721 x 1440 = 1,038,240 cells).

Synthetic covariates (t2m, degC) everywhere; a fixed context of 10,000 observed tp cells (mm); every other
cell is predicted with S = 32 weight draws; mean, std and 5 quantiles are returned. The model has the
sample profile's architecture (configs/sample.yaml: BNNP, features xyz + t2m, hidden [32, 32], inference
nets [32, 32]) with its initial weights (time and memory do not depend on training). Each configuration runs
in a fresh process and reports wall time of the predict call (including computing a lazy result) and the
process's peak RSS.

Usage: ``python benchmarks/predict_global.py`` (all configurations; writes
``benchmarks/results/predict_global.json``) or ``--config NAME`` for one configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "predict_global.json"
N_LAT, N_LON, N_CONTEXT, NUM_SAMPLES = 721, 1440, 10_000, 32
CONFIGS = {
    "eager_f64_chunk16k": {"dtype": "float64", "chunk_size": 16_384, "dask": False},
    "eager_f64_chunk4k": {"dtype": "float64", "chunk_size": 4_096, "dask": False},
    "eager_f32_chunk16k": {"dtype": "float32", "chunk_size": 16_384, "dask": False},
    "dask_f64_chunk16k": {"dtype": "float64", "chunk_size": 16_384, "dask": True},
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _dataset(seed: int = 0):
    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(seed)
    lat = np.linspace(90.0, -90.0, N_LAT)  # ERA5 order
    lon = np.arange(N_LON) * 0.25
    t2m = (15.0 + 15.0 * np.cos(np.deg2rad(lat)))[:, None] + rng.normal(0.0, 3.0, (N_LAT, N_LON))
    tp = np.full((N_LAT, N_LON), np.nan)
    cells = rng.choice(N_LAT * N_LON, N_CONTEXT, replace=False)
    tp.flat[cells] = rng.gamma(0.7, 0.5, N_CONTEXT)
    return xr.Dataset(
        {
            "tp": (("latitude", "longitude"), tp, {"units": "mm"}),
            "t2m": (("latitude", "longitude"), t2m.astype("float32"), {"units": "degC"}),
        },
        coords={"latitude": lat, "longitude": lon},
    )


def run_one(name: str) -> dict:
    """Run one configuration in this process; returns its record."""
    import torch

    from climate_bnnp import BNNP, predict
    from climate_bnnp.data import InputSchema, Normaliser

    cfg = CONFIGS[name]
    ds = _dataset()
    if cfg["dask"]:
        ds = ds.chunk({"latitude": 181, "longitude": 360})
    torch.manual_seed(0)
    model = BNNP(dim_x=4, dim_y=1, hidden_dims=(32, 32), inf_hidden_dims=(32, 32), noise_init=0.3)
    model = model.to(getattr(torch, cfg["dtype"])).eval()
    normaliser = Normaliser(mean={"tp": 0.2, "t2m": 12.0}, std={"tp": 0.4, "t2m": 14.0}, tp_transform="log1p")
    schema = InputSchema(features=("xyz", "t2m"), normaliser=normaliser, units={"t2m": "degC", "tp": "mm"})
    rss_before = _peak_rss_mb()
    tick = time.perf_counter()
    out = predict(
        model, ds, schema=schema, num_samples=NUM_SAMPLES,
        chunk_size=cfg["chunk_size"], progress=False,
    )  # fmt: skip
    if cfg["dask"]:
        out = out.compute()
    seconds = time.perf_counter() - tick
    predicted = int(out["mean"].notnull().sum())
    return {
        "config": name,
        **cfg,
        "cells": N_LAT * N_LON,
        "predicted_cells": predicted,
        "context_cells": N_CONTEXT,
        "num_samples": NUM_SAMPLES,
        "seconds": round(seconds, 2),
        "cells_per_second": round(predicted / seconds),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peak_rss_before_predict_mb": round(rss_before, 1),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), help="run one configuration in this process")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.config:
        print(json.dumps(run_one(args.config)))
        return 0
    records = []
    for name in CONFIGS:  # each in a fresh process
        proc = subprocess.run(
            [sys.executable, __file__, "--config", name], capture_output=True, text=True, check=False
        )
        record = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {
            "config": name, "error": proc.stderr.strip().splitlines()[-5:]
        }  # fmt: skip
        print(json.dumps(record))
        records.append(record)
    result = {
        "benchmark": "predict on a global 0.25 deg grid, S = 32, 10^4 context cells",
        "command": "python benchmarks/predict_global.py",
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "records": records,
    }
    from climate_bnnp.data import write_json_atomic

    write_json_atomic(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
