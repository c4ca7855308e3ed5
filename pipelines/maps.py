"""Snakemake rule `maps`: uncertainty maps (PNG) of one test task per protocol, for one model.

The step's code is :mod:`climate_bnnp.steps.maps` (also ``climate-bnnp maps``).

Usage: ``python pipelines/maps.py --config C --predictions results/<name>/predictions/learned.zarr
    --out-random R.png --out-held-out H.png``
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("maps", argv, prog="pipelines/maps.py")


if __name__ == "__main__":
    raise SystemExit(main())
