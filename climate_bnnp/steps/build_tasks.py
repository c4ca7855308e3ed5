"""Standardised Zarr -> Zarr v3 task store (time split, input schema, tiles).

The store records the models' input schema (features, normaliser fitted on the train split, coordinate
statistics, units, target period): training copies it into every checkpoint. With data.dask_scheduler set,
the statistics and the store are computed by that dask.distributed cluster (the same store: where it was
computed is not recorded).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import xarray as xr

from climate_bnnp.config import config_to_dict, load_config
from climate_bnnp.data import build_task_store, dask_client, fit_input_schema, split_times
from climate_bnnp.steps import existing_path

EXAMPLE = (
    "climate-bnnp build-tasks --config configs/sample.yaml --input data/sample/standardised.zarr "
    "--out data/sample/tasks.zarr"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument("--input", required=True, type=existing_path, help="the standardise step's Zarr")
    parser.add_argument("--out", required=True, type=Path, help="task store (Zarr folder)")


def run(args: argparse.Namespace) -> int:
    data = load_config(args.config).data
    with dask_client(data.dask_scheduler):  # None: local threads
        _build(data, args)
    return 0


def _build(data, args: argparse.Namespace) -> None:
    ds = xr.open_zarr(args.input, consolidated=False)
    split = split_times(ds["time"].values, n_val=data.n_val, n_test=data.n_test)
    schema = fit_input_schema(ds, data.features, tp_transform=data.tp_transform,
                              wet_threshold=data.wet_threshold_mm, times=split["train"])  # fmt: skip
    ds = ds[[*schema.covariates, schema.target]]
    attrs = {
        "experiment": data.name,
        "region": list(data.area) if data.area is not None else "whole source grid",
        "data_config": {k: v for k, v in config_to_dict(data).items() if k != "dask_scheduler"},
    }
    if "request" in ds.attrs:
        attrs["request"] = json.loads(ds.attrs["request"])
    build_task_store(ds, args.out, tile_size=data.tile_size, split=split, schema=schema, attrs=attrs)
