"""Predict tp on a netCDF or Zarr dataset with a trained checkpoint and write the predictive to a file.

The input holds tp in mm (NaN at the cells to predict) and the checkpoint's covariates in training units
(e.g. t2m in degC) on a latitude/longitude grid or along a points dim; every other dim (e.g. time) indexes
separate tasks (see climate_bnnp.predict). The output has mean, std and quantiles (with --return-samples
also the posterior samples) in mm. It is written to a temporary file beside the output and renamed when
complete: a failure never leaves a half-written output nor replaces an existing one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import xarray as xr

import climate_bnnp
from climate_bnnp.data import atomic_write, write_zarr_atomic
from climate_bnnp.prediction import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTEXT_CHUNK_SIZE,
    DEFAULT_NUM_SAMPLES,
    DEFAULT_QUANTILES,
)
from climate_bnnp.steps import existing_path

EXAMPLE = (
    "climate-bnnp predict --checkpoint results/sample/checkpoints/learned.pt --input observed.nc "
    "--output predicted.nc --num-samples 50 --quantiles 0.1 0.5 0.9"
)
SUFFIXES = (".nc", ".zarr")


def data_path(value: str) -> Path:
    """argparse type: a ``.nc`` (netCDF) or ``.zarr`` (Zarr) path."""
    path = Path(value)
    if path.suffix not in SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"expected a netCDF file (.nc) or a Zarr store (.zarr), got {value!r}; rename or convert it."
        )
    return path


def existing_data_path(value: str) -> Path:
    """argparse type: an existing ``.nc`` file or ``.zarr`` store."""
    return existing_path(str(data_path(value)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=existing_path, help="a trained model (.pt)")
    parser.add_argument("--input", required=True, type=existing_data_path, help="observed data: .nc or .zarr")
    parser.add_argument("--output", required=True, type=data_path, help="predictive: .nc or .zarr")
    parser.add_argument("--num-samples", type=int, default=DEFAULT_NUM_SAMPLES, help="weight draws per task")
    parser.add_argument("--quantiles", type=float, nargs="+", default=list(DEFAULT_QUANTILES), metavar="Q",
                        help="levels of the quantiles output, in (0, 1)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="base seed of the weight draws")
    parser.add_argument("--predict-at", choices=("missing", "all"), default="missing",
                        help="predict the NaN cells only, or every cell (the observed ones too)")  # fmt: skip
    parser.add_argument("--return-samples", action="store_true", help="also write the posterior samples")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="targets per decoder call")
    parser.add_argument("--context-chunk-size", type=int, default=DEFAULT_CONTEXT_CHUNK_SIZE,
                        help="context points per minibatch when drawing the weights")  # fmt: skip
    parser.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N or auto (CUDA if any)")
    parser.add_argument("--scheduler", default=None,
                        help="dask.distributed scheduler address or file (default: here)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _open(path: Path) -> xr.Dataset:
    return xr.open_zarr(path, consolidated=False) if path.suffix == ".zarr" else xr.open_dataset(path)


def run(args: argparse.Namespace) -> int:
    if args.output.resolve() == args.input.resolve():
        raise ValueError(f"--output {args.output} is the --input; choose another output path.")
    if args.threads:
        torch.set_num_threads(args.threads)
    with _open(args.input) as ds:
        out = climate_bnnp.predict(
            args.checkpoint, ds, num_samples=args.num_samples, quantiles=args.quantiles,
            return_samples=args.return_samples, seed=args.seed, chunk_size=args.chunk_size,
            context_chunk_size=args.context_chunk_size, predict_at=args.predict_at, device=args.device,
            scheduler=args.scheduler,
        )  # fmt: skip
        for variable in out.variables.values():
            variable.encoding = {}  # the input's chunks and compression do not apply to the output
        if args.output.suffix == ".zarr":
            write_zarr_atomic(out, args.output)
        else:
            atomic_write(args.output, lambda tmp: out.to_netcdf(tmp, engine="netcdf4"))
    return 0
