"""A per-task baseline's predictions on the same test tasks as the BNNP (the pipeline's baseline rule).

What a geoscientist would use instead (climate_bnnp.baselines): GP kriging with hyperparameters fitted on
each task's context (on position alone, or with the covariates the model sees), inverse-distance weighting,
or the context mean. Each is fitted on the context of one test tile alone, on unit-sphere positions (plus
the standardised covariates for the covariate kriging), in the target units of
data.baseline_tp_transform (default log1p, kriging's usual transform for rain, whatever the model uses;
model: the model's own transform and normalisation), and predicts every cell of the tile; the Gaussian
predictive (draws and quantiles clipped at 0 mm on the way back to mm) is written on the test grid like the
BNNP's predictions, so the evaluate step scores every method the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from climate_bnnp.baselines import BASELINE_MOMENTS, COVARIATE_BASELINES
from climate_bnnp.config import load_config
from climate_bnnp.data import InputSchema, Normaliser, open_task_store, write_zarr_atomic
from climate_bnnp.prediction import DEFAULT_QUANTILES
from climate_bnnp.prediction.gaussian import gaussian_prediction
from climate_bnnp.steps import existing_path
from climate_bnnp.tasks.era5_eval import (
    EvalProtocols,
    PredictTile,
    build_test_grid,
    cells_on_tile,
    predict_grid,
)

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


def tile_baseline(
    method: str, schema: InputSchema, target_schema: InputSchema, *, num_samples: int, attrs: dict
) -> PredictTile:
    """The baseline as a :data:`~climate_bnnp.tasks.era5_eval.PredictTile`: fitted on the tile's context
    (cells with ``tp``), predicting every cell whose covariates are valid, on the tile's grid. Position-only
    methods see unit-sphere xyz; ``COVARIATE_BASELINES`` also see the standardised covariates the model
    sees."""
    moments = BASELINE_MOMENTS[method]
    features = ("xyz", *(schema.covariates if method in COVARIATE_BASELINES else ()))

    def predict_tile(tile: xr.Dataset, seed: int) -> xr.Dataset:
        lat, lon = np.meshgrid(tile["latitude"].values, tile["longitude"].values, indexing="ij")  # (h, w)
        values = {name: tile[name].values for name in schema.covariates}
        x = np.stack([c for f in features for c in schema.columns(f, values, lat, lon, None)], axis=-1)
        valid = np.isfinite(x).all(axis=-1)  # (h, w): inside the domain
        tp = tile["tp"].values
        context = valid & np.isfinite(tp)
        yc = target_schema.target_forward(tp[context])  # (Nc,) in the baseline's target units
        mean, std = moments(x[context], yc, x[valid])
        cells = gaussian_prediction(
            mean, std, lat[valid], lon[valid], schema=target_schema, num_samples=num_samples, seed=seed,
            quantiles=DEFAULT_QUANTILES, attrs=attrs,
        )  # fmt: skip
        return cells_on_tile(cells, valid, tile)

    return predict_tile


def run(args: argparse.Namespace) -> int:
    data = load_config(args.config).data
    store = open_task_store(args.store)
    schema = InputSchema.from_dict(store.attrs["input_schema"], where="task store attribute input_schema")
    protocols = EvalProtocols.from_config(data, store)
    tests = build_test_grid(store, schema, split=data.eval_split, settings=protocols)
    target_schema = baseline_schema(schema, data.baseline_tp_transform)
    attrs = {
        "method": args.method,
        "attribution": store.attrs["attribution"],
        "tp_transform": target_schema.normaliser.tp_transform,
    }
    predict_tile = tile_baseline(args.method, schema, target_schema, num_samples=data.num_eval_samples,
                                 attrs=attrs)  # fmt: skip
    write_zarr_atomic(predict_grid(tests, predict_tile, covariates=schema.covariates, attrs=attrs), args.out)
    return 0
