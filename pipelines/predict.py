"""Snakemake rule `predict`: amortised predictions and per-task scores on the fixed ERA5 test tasks.

For every test task (random context, then held-out-region context) the checkpoint's BNNP samples
``S = data.num_eval_samples`` weight draws from its amortised posterior given the context (no fine-tuning)
and predicts every cell of the task. Scores on the targets use :mod:`climate_bnnp.metrics`: PPD and NLL
in normalised units (as the paper), MAE, CRPS and 90 % coverage in mm from observation samples
back-transformed to mm. Writes a Zarr dataset (see :mod:`climate_bnnp.tasks.era5_outputs`).

Usage: ``python pipelines/predict.py --config C --store data/<name>/tasks.zarr
--checkpoint results/<name>/checkpoints/learned.pt --out results/<name>/predictions/learned.zarr``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from climate_bnnp import metrics
from climate_bnnp.checkpoint import load_checkpoint
from climate_bnnp.config import load_config
from climate_bnnp.data import ERA5_ATTRIBUTION, country_mask, open_task_store, write_zarr_atomic
from climate_bnnp.tasks.era5 import Era5TaskSet
from climate_bnnp.tasks.era5_eval import build_test_tasks, predict_samples
from climate_bnnp.tasks.era5_outputs import predictions_dataset

AMORTISED_NOTE = (
    "Amortised prediction: one pass of the inference networks per test context, no per-task fine-tuning. "
    "The reference code fine-tuned the BNNP on each test context for 50k ELBO steps before predicting."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="predictions Zarr folder")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(args.config)
    data = config.data
    store = open_task_store(args.store)
    taskset = Era5TaskSet(store, data.features)
    held_out = None
    if data.held_out_country is not None:
        held_out = country_mask(
            store["latitude"].values,
            store["longitude"].values,
            data.held_out_country,
            bbox=data.held_out_bbox,
        )
    tests = build_test_tasks(
        taskset, context_fraction=data.test_context_fraction, seed=data.eval_seed, held_out=held_out
    )
    checkpoint = load_checkpoint(args.checkpoint)
    model = checkpoint.model
    dtype = next(model.parameters()).dtype
    sigma = float(model.likelihood.std().detach().mean())  # normalised units
    chunk = config.train.chunk_size or 8192
    rng = np.random.default_rng(data.eval_seed)
    torch.manual_seed(data.eval_seed)
    samples_mm, scores = [], []
    for test in tests:
        f = predict_samples(
            model,
            test.xc,
            test.yc,
            test.task.x,
            num_samples=data.num_eval_samples,
            chunk_size=chunk,
            dtype=dtype,
        )[..., 0]  # (S, N) normalised function samples at every cell of the task
        obs_mm = taskset.normaliser.inverse("tp", f + sigma * rng.standard_normal(f.shape))  # (S, N) mm
        yt, ft, obs_t = test.yt[:, 0], f[:, test.target], obs_mm[:, test.target]
        truth_mm = test.task.tp_mm[test.target]
        scores.append(
            {
                "ppd": metrics.ppd(yt, ft, sigma),
                "nll": metrics.nll(yt, ft, sigma),
                "mae_mm": metrics.mae(truth_mm, obs_t.mean(0)),
                "crps_mm": float(np.nanmean(metrics.crps_samples(truth_mm, obs_t))),
                "coverage90": metrics.coverage(truth_mm, obs_t, 0.9),
            }
        )
        samples_mm.append(obs_mm)
    ds = predictions_dataset(
        taskset,
        tests,
        samples_mm,
        scores,
        held_out=held_out,
        attrs={
            "attribution": store.attrs.get("attribution", ERA5_ATTRIBUTION),
            "prior": str((checkpoint.experiment or {}).get("prior", "unknown")),
            "checkpoint_sha256": checkpoint.sha256,
            "num_samples": data.num_eval_samples,
            "noise_std_normalised": sigma,
            "held_out_country": data.held_out_country or "",
            "scores": "ppd, nll: normalised units (higher/lower is better); mae_mm, crps_mm: mm; coverage90: "
            "fraction of targets inside the central 90 % interval of the observation samples",
            "note": AMORTISED_NOTE,
        },
    )
    write_zarr_atomic(ds, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
