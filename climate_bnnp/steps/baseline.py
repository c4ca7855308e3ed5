"""A per-task baseline's predictions on the same test tasks as the BNNP (the pipeline's baseline rule).

What a geoscientist would use instead (climate_bnnp.baselines): GP kriging with hyperparameters fitted on
each task's context, inverse-distance weighting, or the context mean. Each is fitted on the context of one
test task alone, on unit-sphere positions, in the target units of data.baseline_tp_transform (default log1p,
kriging's usual transform for rain, whatever the model uses; model: the model's own transform and
normalisation), and predicts every cell of the task; the Gaussian predictive is written in the layout of the
BNNP's prediction store, so the evaluate step scores every method the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from climate_bnnp.baselines import BASELINE_MOMENTS
from climate_bnnp.config import load_config
from climate_bnnp.data import InputSchema, Normaliser, open_task_store, write_zarr_atomic
from climate_bnnp.prediction import DEFAULT_QUANTILES
from climate_bnnp.prediction.gaussian import gaussian_prediction
from climate_bnnp.steps import existing_path
from climate_bnnp.tasks.era5 import Era5TaskSet
from climate_bnnp.tasks.era5_eval import build_test_tasks, held_out_mask, prediction_store

EXAMPLE = (
    "climate-bnnp baseline --config configs/sample.yaml --store data/sample/tasks.zarr --method kriging "
    "--out results/sample/predictions/kriging.zarr"
)


def baseline_schema(schema: InputSchema, tp_transform: str) -> InputSchema:
    """The target units the baselines work in: the model's (``"model"``), or ``tp`` under ``tp_transform``
    (``"log1p"``: kriging's usual transform for rain, whatever the model uses; no centring or scaling needed,
    scikit-learn's GP normalises y itself)."""
    if tp_transform == "model":
        return schema
    normaliser = Normaliser(mean={"tp": 0.0}, std={"tp": 1.0}, tp_transform=tp_transform)
    return InputSchema(features=("xyz",), normaliser=normaliser, units={"tp": "mm"}, target="tp",
                       tp_period_hours=schema.tp_period_hours)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument("--store", required=True, type=existing_path, help="the build-tasks step's store")
    parser.add_argument("--method", required=True, choices=sorted(BASELINE_MOMENTS))
    parser.add_argument("--out", required=True, type=Path, help="predictions Zarr folder")


def run(args: argparse.Namespace) -> int:
    data = load_config(args.config).data
    taskset = Era5TaskSet(open_task_store(args.store))
    held_out = held_out_mask(taskset, data.held_out_country, data.held_out_bbox)
    tests = build_test_tasks(taskset, split=data.eval_split, context_fraction=data.test_context_fraction,
                             seed=data.eval_seed, held_out=held_out)  # fmt: skip
    moments = BASELINE_MOMENTS[args.method]
    schema = baseline_schema(taskset.schema, data.baseline_tp_transform)
    attrs = {
        "method": args.method,
        "attribution": taskset.store.attrs["attribution"],
        "tp_transform": schema.normaliser.tp_transform,
    }
    predictions = []
    for i, test in enumerate(tests):
        task = test.task
        x = np.stack(schema.columns("xyz", {}, task.lat, task.lon, None), axis=-1)  # (N, 3) unit sphere
        yc = schema.target_forward(task.tp_mm[test.context])  # (Nc,) in the baseline's target units
        mean, std = moments(x[test.context], yc, x)
        predictions.append(gaussian_prediction(
            mean, std, task.lat, task.lon, schema=schema, num_samples=data.num_eval_samples,
            seed=data.eval_seed + i, quantiles=DEFAULT_QUANTILES, attrs=attrs,
        ))  # fmt: skip
    store = prediction_store(tests, predictions, seed=data.eval_seed, held_out=held_out, attrs=attrs)
    write_zarr_atomic(store, args.out)
    return 0
