"""Snakemake rule `evaluate`: every method's predictions on the same test tasks, scored by the library.

Each prediction store (the BNNP with learned and standard prior, and the per-task baselines) is scored with
:func:`climate_bnnp.metrics.score_predictions` on the target cells;
:func:`climate_bnnp.metrics.compare_methods`
gives mean ± standard error over tasks per protocol and the paired difference of CRPS and MAE against the
learned-prior BNNP. The mean predictive std (mm) is also averaged over target cells inside vs outside the
held-out region.

Usage: ``python pipelines/evaluate.py --config C --predictions learned=P1.zarr standard=P2.zarr ...
--json M.json --netcdf M.nc --markdown M.md``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import xarray as xr

from climate_bnnp import metrics
from climate_bnnp.config import load_config
from climate_bnnp.data import InputSchema
from climate_bnnp.data.files import atomic_write

REFERENCE = "learned"


def _scores(pred: xr.Dataset) -> xr.Dataset:
    schema = InputSchema.from_dict(json.loads(pred.attrs["input_schema"]))
    truth = pred["tp_truth"]
    return metrics.score_predictions(
        pred, truth, truth_normalised=schema.target_forward(truth), where=~pred["is_context"], by="task"
    )


def _std_inside_outside(pred: xr.Dataset, protocol: str) -> tuple[float, float]:
    """Mean predictive std (mm) over target cells of ``protocol`` tasks inside / outside the held-out
    region."""
    tasks = (pred["protocol"] == protocol).values[pred["task"].values]  # (cell,)
    target = ~pred["is_context"].values & tasks
    inside = pred["in_held_out_region"].values
    std = pred["std"].values
    return float(std[target & inside].mean()), float(std[target & ~inside].mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--predictions", required=True, nargs="+", help="METHOD=PATH pairs")
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--netcdf", required=True, type=Path)
    parser.add_argument("--markdown", required=True, type=Path)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    preds = {
        m: xr.open_zarr(p, consolidated=False).load() for m, p in (a.split("=", 1) for a in args.predictions)
    }
    scores = {m: _scores(p) for m, p in preds.items()}
    first = preds[REFERENCE]
    groups = first["protocol"].rename(task_index="task")
    summary = metrics.compare_methods(scores, groups, reference=REFERENCE)
    std = {m: {g: _std_inside_outside(p, g) for g in summary["group"].values} for m, p in preds.items()}
    report = {
        "experiment": config.data.name,
        "split": config.data.eval_split,
        "num_samples": int(first.attrs["num_samples"]),
        "held_out_country": config.data.held_out_country,
        "methods": {m: str(p.attrs.get("method", m)) for m, p in preds.items()},
        "note": str(first.attrs.get("note", "")),
        "attribution": str(first.attrs["attribution"]),
        "summary": {k: v.values.tolist() for k, v in summary.data_vars.items()}
        | {"model": list(summary["model"].values), "group": list(summary["group"].values)},
        "std_inside_outside_region_mm": std,
    }
    per_task = xr.concat(list(scores.values()), dim="model").assign_coords(model=list(scores))
    out = xr.merge([summary, per_task.rename(task="test_task")], compat="override")
    out.attrs = {
        k: str(v) for k, v in report.items() if k in ("experiment", "note", "attribution", "num_samples")
    }
    lines = [
        f"### ERA5 {config.data.eval_split} metrics — experiment `{config.data.name}` "
        f"(S = {report['num_samples']} samples per task)",
        "",
        *metrics.methods_markdown(summary),
        "",
        "Mean ± standard error over tasks; Δ = method − learned-prior BNNP, paired over the same tasks "
        "(negative: the method beats the BNNP). PPD/NLL in the model's normalised units.",
        "",
        "| method | protocol | mean std inside / outside the held-out region (mm) |",
        "|---|---|---|",
        *[f"| {m} | {g} | {a:.3f} / {b:.3f} |" for m, v in std.items() for g, (a, b) in v.items()],
        "",
        report["note"],
        "",
        report["attribution"],
        "",
    ]
    atomic_write(args.json, lambda t: Path(t).write_text(json.dumps(report, indent=2)))
    atomic_write(args.netcdf, lambda t: out.to_netcdf(t, engine="netcdf4"))
    atomic_write(args.markdown, lambda t: Path(t).write_text("\n".join(lines)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
