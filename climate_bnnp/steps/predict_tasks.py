"""The checkpoint's predictions on the fixed ERA5 test tasks of a task store (the pipeline's predict rule).

Every test unit (one tile of one test field: random, sparse, gap and held-out-region protocols) is handed to
climate_bnnp.predict as a user would: the tile's grid with tp observed at the context and NaN elsewhere.
The model samples S = data.num_eval_samples weight draws from its amortised posterior (seed data.eval_seed
+ unit index; with data.fine_tune_steps > 0 after fine-tuning on the unit's context, the paper's protocol)
and predicts every cell of the tile. It runs on train.device, and on the Dask cluster at data.dask_scheduler
when one is set. The store has dims (task, latitude, longitude) like the test set
(climate_bnnp.tasks.era5_eval.predict_grid); the evaluate and maps steps read it as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import xarray as xr

import climate_bnnp
from climate_bnnp.checkpoint import load_checkpoint
from climate_bnnp.config import load_config
from climate_bnnp.data import InputSchema, dask_client, open_task_store, write_zarr_atomic
from climate_bnnp.steps import existing_path
from climate_bnnp.tasks.era5_eval import EvalProtocols, build_test_grid, predict_grid
from climate_bnnp.train import fine_tuner

EXAMPLE = (
    "climate-bnnp predict-tasks --config configs/sample.yaml --store data/sample/tasks.zarr "
    "--checkpoint results/sample/checkpoints/learned.pt --out results/sample/predictions/learned.zarr"
)
FINE_TUNED_NOTE = (
    "Fine-tuned prediction: before predicting each test task, the BNNP's inference networks were fitted to "
    "its "
    "context with the single-task ELBO for {steps} Adam steps (lr {lr}), prior and noise fixed."
)
AMORTISED_NOTE = (
    "Amortised prediction: one pass of the inference networks per test context, no per-task fine-tuning. "
    "The reference code fine-tuned the BNNP on each test context for 50k ELBO steps before predicting."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument("--store", required=True, type=existing_path, help="the build-tasks step's store")
    parser.add_argument("--checkpoint", required=True, type=existing_path, help="the train step's checkpoint")
    parser.add_argument("--out", required=True, type=Path, help="predictions Zarr folder")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(args.config)
    data = config.data
    store = open_task_store(args.store)
    schema = InputSchema.from_dict(store.attrs["input_schema"], where="task store attribute input_schema")
    protocols = EvalProtocols.from_config(data, store)
    tests = build_test_grid(store, schema, split=data.eval_split, settings=protocols)
    checkpoint = load_checkpoint(args.checkpoint)
    train = checkpoint.experiment["train"] if checkpoint.experiment else {}
    chunk = train.get("chunk_size")
    adapt = None
    if data.fine_tune_steps:  # the paper's protocol: per-task ELBO fine-tuning before predicting
        adapt = fine_tuner(
            steps=data.fine_tune_steps,
            lr=data.fine_tune_lr,
            num_samples=train.get("num_samples", 8),
            chunk_size=chunk,
        )
    note = (
        AMORTISED_NOTE
        if adapt is None
        else FINE_TUNED_NOTE.format(steps=data.fine_tune_steps, lr=data.fine_tune_lr)
    )
    attrs = {"method": f"BNNP, {(checkpoint.experiment or {}).get('prior', 'unknown')} prior", "note": note}
    with dask_client(data.dask_scheduler) as client:  # None: this process

        def predict_tile(tile: xr.Dataset, seed: int) -> xr.Dataset:
            return climate_bnnp.predict(
                checkpoint, tile, seed=seed, num_samples=data.num_eval_samples, return_samples=True,
                predict_at="all", adapt=adapt, context_chunk_size=chunk, progress=False,
                device=config.train.device, scheduler=client,
            )  # fmt: skip

        store_out = predict_grid(tests, predict_tile, covariates=schema.covariates, attrs=attrs)
    write_zarr_atomic(store_out, args.out)
    return 0
