"""Every method's predictions on the same test tasks, scored by the library (the pipeline's evaluate rule).

Each prediction store (the BNNP with learned and standard prior, and the per-task baselines) holds the
same test grid (task, latitude, longitude) and is scored as it is, with climate_bnnp.metrics.score_predictions
on the target cells; the unit of the scores is one tile of one test field (paired across methods).
climate_bnnp.metrics.compare_methods gives mean ± standard error over units per protocol and the paired
difference of CRPS and MAE against the learned-prior BNNP (the method named "learned", required). PPD and
NLL are reported only for the methods of the reference's likelihood family (the same likelihood and target
transform), never side by side in different units. The mean predictive std (mm) is also averaged over target
cells inside vs outside the held-out region. Writes JSON, netCDF and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import xarray as xr

from climate_bnnp import metrics
from climate_bnnp.config import load_config
from climate_bnnp.data import InputSchema, atomic_write
from climate_bnnp.steps import existing_path

REFERENCE = "learned"
GRID_DIMS = ("task", "latitude", "longitude")
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


def test_units(pred: xr.Dataset) -> xr.DataArray:
    """The scoring unit of every cell of a gridded prediction store: one tile of one test field
    (``task * n_tiles + tile`` where the cell is a target, -1 elsewhere)."""
    n_tiles = int(pred["tile"].max()) + 1
    unit = pred["task"] * n_tiles + pred["tile"]
    return unit.where(pred["is_target"], -1).astype(np.int64).rename("unit")


def score_store(pred: xr.Dataset, density_schema: InputSchema | None = None) -> xr.Dataset:
    """Per-unit scores of one method's gridded prediction store (dim ``unit``, with its ``protocol``); the
    density scores (PPD, NLL) only with ``density_schema`` (the reference's likelihood family, in its
    units)."""
    truth = pred["tp_truth"]
    normalised = None if density_schema is None else density_schema.target_forward(truth)
    scores = metrics.score_predictions(
        pred, truth, truth_normalised=normalised, where=pred["is_target"], dim=GRID_DIMS, by=test_units(pred)
    )
    task = scores["unit"].values // (int(pred["tile"].max()) + 1)
    return scores.assign_coords(protocol=("unit", np.array([str(p) for p in pred["protocol"].values[task]])))


def _std_inside_outside(pred: xr.Dataset, protocol: str) -> tuple[float, float]:
    """Mean predictive std (mm) over target cells of ``protocol`` fields inside / outside the held-out
    region."""
    target = pred["is_target"] & (pred["protocol"] == protocol)
    inside = pred["in_held_out_region"]
    std = pred["std"]
    return float(std.where(target & inside).mean()), float(std.where(target & ~inside).mean())


def _family(pred: xr.Dataset) -> tuple[str, str]:
    """A prediction's density family: its likelihood and target normalisation (PPD/NLL compare only within
    one)."""
    normaliser = json.loads(pred.attrs["input_schema"]).get("normaliser")
    return str(pred.attrs.get("likelihood", "gaussian")), json.dumps(normaliser, sort_keys=True)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    methods = [m for m, _ in args.predictions]
    if REFERENCE not in methods:
        raise ValueError(f"--predictions needs the reference method {REFERENCE}=PATH; got methods {methods}.")
    preds = {m: xr.open_zarr(p, consolidated=False) for m, p in args.predictions}
    first = preds[REFERENCE]
    family = _family(first)
    schema = InputSchema.from_dict(json.loads(first.attrs["input_schema"]))  # parsed once: the reference's
    protocols = list(dict.fromkeys(first["protocol"].values.tolist()))
    scores, std = {}, {}
    for method, pred in preds.items():  # one store in memory at a time
        loaded = pred.copy().load()
        scores[method] = score_store(loaded, schema if _family(pred) == family else None)
        std[method] = {g: _std_inside_outside(loaded, g) for g in protocols}
        del loaded
    groups = scores[REFERENCE]["protocol"].drop_vars(["unit", "protocol"])
    summary = metrics.compare_methods(scores, groups, reference=REFERENCE, task_dim="unit")
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
    per_unit = xr.concat(list(scores.values()), dim="model").assign_coords(model=list(scores))
    out = xr.merge([summary, per_unit], compat="override")
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
        "(negative: the method beats the BNNP); a task is one tile of one test field. Every method's "
        "precipitation draws and quantiles are clipped at 0 mm. PPD/NLL only for the methods of the "
        f"reference's likelihood family ({family[0]}), in its normalised units; — where a method's density "
        "is not comparable.",
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
