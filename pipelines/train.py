"""Snakemake rule `train`: meta-train a BNNP on the task store's TRAIN split.

The step's code is :mod:`climate_bnnp.steps.train` (also ``climate-bnnp train``).

Usage: ``python pipelines/train.py --config C --store data/<name>/tasks.zarr --prior learned
    --out results/<name>/checkpoints/learned.pt --log results/<name>/train_learned.jsonl``

With ``train.distributed.nproc: N > 1`` the step relaunches itself under torchrun; the Snakefile calls
``torchrun --standalone --nproc-per-node N -- pipelines/train.py ...`` directly.
"""

from __future__ import annotations

from climate_bnnp.steps import run_step


def main(argv: list[str] | None = None) -> int:
    return run_step("train", argv, prog="pipelines/train.py")


if __name__ == "__main__":
    raise SystemExit(main())
