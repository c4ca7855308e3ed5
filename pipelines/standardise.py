"""Snakemake rule `standardise`: raw ERA5 files -> one canonical Zarr v3 dataset (optionally cropped).

The step's code is :mod:`climate_bnnp.steps.standardise` (also ``climate-bnnp standardise``).

Usage: ``python pipelines/standardise.py --config C --manifest data/<name>/raw/manifest.json
    --out data/<name>/standardised.zarr``
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("standardise", argv, prog="pipelines/standardise.py")


if __name__ == "__main__":
    raise SystemExit(main())
