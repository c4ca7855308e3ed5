"""Snakemake rule `baseline`: a per-task baseline's predictions on the same test tasks as the BNNP.

The step's code is :mod:`climate_bnnp.steps.baseline` (also ``climate-bnnp baseline``).

Usage: ``python pipelines/baseline.py --config C --store data/<name>/tasks.zarr --method kriging
    --out results/<name>/predictions/kriging.zarr``
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("baseline", argv, prog="pipelines/baseline.py")


if __name__ == "__main__":
    raise SystemExit(main())
