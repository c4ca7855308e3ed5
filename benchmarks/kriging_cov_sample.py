"""Position-only kriging against kriging with external drift (kriging_cov) on the sample's test tasks.

Both fitted per task on the context in log1p(tp) units, exactly as the baseline step does, kriging_cov with
the model's standardised covariates (t2m, msl, u10, v10) after xyz. Samples are back-transformed with expm1
and clipped at 0 mm; scored at the targets with the new scores. Prints per-method means and the paired
differences (method − kriging) ± their standard error over tasks; ``kriging_cov_poskernel`` is kriging_cov
with the residual kernel over the positions only.

    python benchmarks/kriging_cov_sample.py --store data/sample/tasks.zarr --num-tasks 40
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from climate_bnnp.baselines import BASELINES
from climate_bnnp.data import open_task_store
from climate_bnnp.metrics import (
    brier_score_ensemble,
    central_coverage,
    crps_samples,
    mae,
    mae_of_median,
    spread_skill,
    summarise,
)
from climate_bnnp.tasks.era5 import Era5TaskSet
from climate_bnnp.tasks.era5_eval import build_test_tasks

COVARIATES = ("t2m", "msl", "u10", "v10")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True)
    parser.add_argument("--num-tasks", type=int, default=40)
    parser.add_argument("--num-samples", type=int, default=32)
    parser.add_argument("--split", default="test", choices=("val", "test"))
    args = parser.parse_args(argv)
    taskset = Era5TaskSet(open_task_store(args.store))
    schema = taskset.schema
    tests = build_test_tasks(taskset, split=args.split, context_fraction=(0.025, 0.25), seed=69)
    step = max(1, len(tests) // args.num_tasks)
    tests = tests[::step][: args.num_tasks]
    methods = {  # name: (baseline, inputs, options)
        "kriging": ("kriging", "xyz", {}),
        "kriging_cov": ("kriging_cov", "xyz+cov", {}),
        "kriging_cov_poskernel": ("kriging_cov", "xyz+cov", {"kernel_columns": "position"}),
    }
    rows = {m: [] for m in methods}
    spent = dict.fromkeys(rows, 0.0)
    for i, test in enumerate(tests):
        task = test.task
        xyz = np.stack(schema.columns("xyz", {}, task.lat, task.lon, None), axis=-1)  # (N, 3)
        cov = np.stack(
            [schema.columns(c, task.covariates, task.lat, task.lon, None)[0] for c in COVARIATES], -1
        )
        inputs = {"xyz": xyz, "xyz+cov": np.concatenate([xyz, cov], axis=1)}
        yc = np.log1p(task.tp_mm[test.context])
        y = task.tp_mm[test.target]
        for method, (name, columns, options) in methods.items():
            x = inputs[columns]
            start = time.perf_counter()
            z = BASELINES[name](
                x[test.context], yc, x[test.target], num_samples=args.num_samples, seed=69 + i, **options
            )
            spent[method] += time.perf_counter() - start
            s = np.clip(np.expm1(z), 0.0, None)  # (S, Nt) mm
            spread, skill = spread_skill(y, s)
            rows[method].append(
                [
                    float(np.mean(crps_samples(y, s, fair=True))),
                    mae(y, s.mean(0)),
                    mae_of_median(y, s),
                    central_coverage(y, s, 0.9),
                    spread**2,
                    skill**2,
                    *brier_score_ensemble(y, s, (0.1, 1.0, 5.0)),
                ]
            )
    names = ["crps_fair", "mae_mean", "mae_median", "coverage90", "spread2", "skill2", "bs0.1", "bs1", "bs5"]
    arrays = {m: np.array(r) for m, r in rows.items()}
    print(f"{len(tests)} {args.split} tasks, S = {args.num_samples}; seconds: {spent}")
    for j, name in enumerate(names):
        if name in ("spread2", "skill2"):
            continue
        cells = [f"{m} {summarise(a[:, j])[0]:.4f}" for m, a in arrays.items()]
        diffs = [summarise(arrays[m][:, j] - arrays["kriging"][:, j]) for m in methods if m != "kriging"]
        diff_text = " ".join(f"{d[0]:+.4f} ± {d[1]:.4f}" for d in diffs)
        print(f"{name:11s} " + "  ".join(cells) + f"  minus kriging: {diff_text}")
    for m, a in arrays.items():  # pooled over tasks (equal weight per task): ratio of root mean squares
        print(f"spread-skill {m}: {np.sqrt(a[:, 4].mean() / a[:, 5].mean()):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
