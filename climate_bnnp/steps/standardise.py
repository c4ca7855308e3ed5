"""Raw ERA5 files (a download manifest) -> one canonical Zarr v3 dataset, cropped to data.area if set.

ERA5-Land precipitation becomes totals over one period unless data.tp_periods: raw_mixed_as_paper
(see climate_bnnp.data.standardise). With data.dask_scheduler set, that dask.distributed cluster's workers
compute and write the store.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from climate_bnnp.config import load_config
from climate_bnnp.data import dask_client, open_cds_files, open_sample, standardise, write_zarr_atomic
from climate_bnnp.steps import existing_path

EXAMPLE = (
    "climate-bnnp standardise --config configs/sample.yaml --manifest data/sample/raw/manifest.json "
    "--out data/sample/standardised.zarr"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument("--manifest", required=True, type=existing_path, help="the download step's JSON")
    parser.add_argument("--out", required=True, type=Path, help="standardised Zarr folder")


def run(args: argparse.Namespace) -> int:
    data = load_config(args.config).data
    manifest = json.loads(args.manifest.read_text())
    if manifest["source"] == "sample":
        raw, source = open_sample(), "sample"
    else:
        raw, source = open_cds_files(manifest["files"]), manifest["source"]
    ds = standardise(raw, source=source, required=("t2m", "tp"), tp_periods=data.tp_periods)
    if data.area is not None:
        north, west, south, east = data.area
        ds = ds.sel(latitude=slice(south, north), longitude=slice(west, east))
        if min(ds.sizes["latitude"], ds.sizes["longitude"]) < 1:
            raise ValueError(
                f"data.area {list(data.area)} (north, west, south, east; longitudes in [-180, 180)) "
                "selects no grid cell of the source; fix the area."
            )
    if "request" in manifest:
        ds.attrs["request"] = json.dumps(manifest["request"])
    ds = ds.chunk({"time": 1, "latitude": -1, "longitude": -1})
    for name in ds.variables:
        ds[name].encoding = {}
    with dask_client(data.dask_scheduler):  # None: local threads
        write_zarr_atomic(ds, args.out)
    return 0
