"""Snakemake rule `build_tasks`: standardised Zarr -> Zarr v3 task store (split, input schema, tiles).

The step's code is :mod:`climate_bnnp.steps.build_tasks` (also ``climate-bnnp build-tasks``).

Usage: ``python pipelines/build_tasks.py --config C --input data/<name>/standardised.zarr
    --out data/<name>/tasks.zarr``
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("build-tasks", argv, prog="pipelines/build_tasks.py")


if __name__ == "__main__":
    raise SystemExit(main())
