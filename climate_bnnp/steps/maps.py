"""Uncertainty maps (PNG) of one test field per protocol, for one model's gridded prediction store.

Each figure shows the context locations, the truth, the predictive mean and std and two posterior samples
(mm), with the held-out region outlined and the ERA5 attribution in the footer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from climate_bnnp import plot
from climate_bnnp.config import load_config
from climate_bnnp.steps import existing_path

EXAMPLE = (
    "climate-bnnp maps --config configs/sample.yaml --predictions results/sample/predictions/learned.zarr "
    "--out-random learned_random.png --out-held-out learned_held_out.png"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument("--predictions", required=True, type=existing_path, help="a prediction store")
    parser.add_argument("--out-random", required=True, type=Path, help="PNG of the first random-context task")
    parser.add_argument("--out-held-out", type=Path, default=None, help="PNG of the first held-out task")


def _figure(ds: xr.Dataset, protocol: str, title: str):
    """The first test field of ``protocol``, cropped to the box of its predicted tiles."""
    index = int(np.flatnonzero(ds["protocol"].values == protocol)[0])
    field = ds.isel(task=index)
    used = (field["is_target"] | field["is_context"]).values  # (lat, lon)
    rows, cols = np.flatnonzero(used.any(axis=1)), np.flatnonzero(used.any(axis=0))
    field = field.isel(latitude=slice(rows[0], rows[-1] + 1), longitude=slice(cols[0], cols[-1] + 1))
    i, j = np.nonzero(field["is_context"].values)
    region = field["in_held_out_region"] if protocol == "held_out" else None
    when = str(field["time"].values)[:16]
    return plot.uncertainty_figure(
        field["tp_truth"].assign_attrs(units="mm"),
        field["mean"],
        field["std"],
        field["samples"],  # function samples: whole fields drawn with one weight draw each
        field["latitude"].values[i],
        field["longitude"].values[j],
        held_out_region=region,
        attribution=ds.attrs["attribution"],
        title=f"{title}: {protocol} context, {when} UTC (tp, mm)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    ds = xr.open_zarr(args.predictions, consolidated=False)
    title = f"{ds.attrs.get('method', 'BNNP')}, experiment {config.data.name}"
    plot.save_figure(_figure(ds, "random", title), args.out_random, close=True)
    if args.out_held_out is not None:
        plot.save_figure(_figure(ds, "held_out", title), args.out_held_out, close=True)
    return 0
