"""Snakemake rule `evaluate`: every method's predictions on the same test tasks, scored by the library.

The step's code is :mod:`climate_bnnp.steps.evaluate` (also ``climate-bnnp evaluate``).

Usage: ``python pipelines/evaluate.py --config C --predictions learned=P1.zarr standard=P2.zarr ...
    --json M.json --netcdf M.nc --markdown M.md``
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("evaluate", argv, prog="pipelines/evaluate.py")


if __name__ == "__main__":
    raise SystemExit(main())
