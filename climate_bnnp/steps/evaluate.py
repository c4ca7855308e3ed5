"""Every method's predictions on the same test tasks, scored by the library (the pipeline's evaluate rule).

Each prediction store (the BNNP with learned and standard prior, and the per-task baselines) is scored with
climate_bnnp.metrics.score_predictions on the target cells; climate_bnnp.metrics.compare_methods gives
mean ± standard error over tasks per protocol and the paired difference of CRPS and MAE against the
learned-prior BNNP (the method named "learned", required). The mean predictive std (mm) is also averaged
over target cells inside vs outside the held-out region. Writes JSON, netCDF and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import xarray as xr

from climate_bnnp import metrics
from climate_bnnp.config import load_config
from climate_bnnp.data import InputSchema, atomic_write
from climate_bnnp.steps import existing_path

REFERENCE = "learned"
EXAMPLE = (
    "climate-bnnp evaluate --config configs/sample.yaml --predictions learned=results/sample/predictions/"
    "learned.zarr kriging=results/sample/predictions/kriging.zarr --json metrics.json --netcdf metrics.nc "
    "--markdown metrics.md"
)


def method_path(value: str) -> tuple[str, Path]:
    """argparse type: ``METHOD=PATH`` with an existing PATH."""
    method, sep, path = value.partition("=")
    if not sep or not method:
        raise argparse.ArgumentTypeError(f"expected METHOD=PATH (e.g. learned=learned.zarr), got {value!r}")
    return method, existing_path(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument(
        "--predictions", required=True, nargs="+", type=method_path, metavar="METHOD=PATH",
        help=f"prediction stores by method; one must be {REFERENCE!r}",
    )  # fmt: skip
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--netcdf", required=True, type=Path)
    parser.add_argument("--markdown", required=True, type=Path)


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


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    methods = [m for m, _ in args.predictions]
    if REFERENCE not in methods:
        raise ValueError(f"--predictions needs the reference method {REFERENCE}=PATH; got methods {methods}.")
    preds = {m: xr.open_zarr(p, consolidated=False).load() for m, p in args.predictions}
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
