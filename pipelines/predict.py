"""Snakemake rule `predict`: the checkpoint's predictions on the fixed ERA5 test tasks, via ``predict``.

The step's code is :mod:`climate_bnnp.steps.predict_tasks` (also ``climate-bnnp predict-tasks``).

Usage: ``python pipelines/predict.py --config C --store data/<name>/tasks.zarr
    --checkpoint results/<name>/checkpoints/learned.pt --out results/<name>/predictions/learned.zarr``
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("predict-tasks", argv, prog="pipelines/predict.py")


if __name__ == "__main__":
    raise SystemExit(main())
