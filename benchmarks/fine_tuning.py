"""Test-time fine-tuning (the paper's ERA5 protocol) against amortised prediction: skill and seconds per task.

On the first ``--tasks`` random-protocol tiles of the config's evaluation split, the checkpoint predicts
each task amortised and after ``--steps`` Adam steps of single-task ELBO fine-tuning
(:func:`climate_bnnp.train.fine_tuner`); both are scored with :func:`climate_bnnp.metrics.score_predictions`
and compared as paired differences (± s.e. over tasks).

Usage: ``python benchmarks/fine_tuning.py --config results/<name>/config.yaml --store data/<name>/tasks.zarr
--checkpoint results/<name>/checkpoints/learned.pt [--tasks 20] [--steps 50] [--lr 1e-3]``
Writes ``benchmarks/results/fine_tuning.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import climate_bnnp
from climate_bnnp import metrics
from climate_bnnp.checkpoint import load_checkpoint
from climate_bnnp.config import load_config
from climate_bnnp.data import InputSchema, open_task_store
from climate_bnnp.tasks.era5_eval import EvalProtocols, build_test_grid, tile_inputs, tile_units
from climate_bnnp.train import fine_tuner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import median, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fine_tuning.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_config(args.config).data
    store = open_task_store(args.store)
    schema = InputSchema.from_dict(store.attrs["input_schema"])
    protocols = EvalProtocols(context_fraction=data.test_context_fraction, sparse_context_fraction=None,
                              gap_size=None, seed=data.eval_seed)  # the random protocol only  # fmt: skip
    tests = build_test_grid(store, schema, split=data.eval_split, settings=protocols)
    units = tile_units(tests)[: args.tasks]
    checkpoint = load_checkpoint(args.checkpoint)
    adapt = fine_tuner(
        steps=args.steps, lr=args.lr, num_samples=checkpoint.experiment["train"]["num_samples"]
    )
    crps: dict[str, list[float]] = {"amortised": [], "fine_tuned": []}
    seconds: dict[str, list[float]] = {"amortised": [], "fine_tuned": []}
    for i, (k, rows, cols) in enumerate(units):
        tile = tests.isel(task=k, latitude=rows, longitude=cols)
        ds = tile_inputs(tests, (k, rows, cols), schema.covariates)
        for name, hook in (("amortised", None), ("fine_tuned", adapt)):
            tick = time.perf_counter()
            pred = climate_bnnp.predict(
                checkpoint, ds, num_samples=data.num_eval_samples, return_samples=True, predict_at="all",
                seed=data.eval_seed + i, adapt=hook, progress=False,
            )  # fmt: skip
            seconds[name].append(time.perf_counter() - tick)
            scores = metrics.score_predictions(
                pred, tile["tp_truth"], where=tile["is_target"], dim=("latitude", "longitude"), by=None
            )
            crps[name].append(float(scores["crps_fair"][0]))
    diff = np.array(crps["fine_tuned"]) - np.array(crps["amortised"])
    mean, se = metrics.summarise(diff)
    result = {
        "config": str(args.config), "checkpoint": str(args.checkpoint), "split": data.eval_split,
        "tasks": len(units), "steps": args.steps, "lr": args.lr, "threads": args.threads,
        "crps_mm": {k: metrics.summarise(np.array(v)) for k, v in crps.items()},
        "fine_tuned_minus_amortised_crps_mm": [mean, se],
        "seconds_per_task": {k: median(v) for k, v in seconds.items()},
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
