"""Snakemake rule `download`: fetch the raw ERA5 data and write a manifest of the raw files.

The step's code is :mod:`climate_bnnp.steps.download` (also ``climate-bnnp download``).

Usage: ``python pipelines/download.py --config results/<name>/config.yaml
    --out data/<name>/raw/manifest.json``
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("download", argv, prog="pipelines/download.py")


if __name__ == "__main__":
    raise SystemExit(main())
