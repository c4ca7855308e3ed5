"""Snakemake rule `evaluate`: learned prior vs standard prior on the test tasks (JSON, netCDF, markdown).

For each model and protocol (random context; held-out region) the per-task scores written by `predict`
are summarised as mean ± standard error over tasks (:func:`climate_bnnp.metrics.summarise`); the mean
predictive std (mm) is averaged over target cells inside vs outside the held-out region.

Usage: ``python pipelines/evaluate.py --config C --predictions learned=P1.zarr standard=P2.zarr
--json M.json --netcdf M.nc --markdown M.md``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from climate_bnnp import metrics
from climate_bnnp.config import load_config

SCORES = {
    "ppd": "PPD (normalised, ↑)",
    "nll": "NLL per point (normalised, ↓)",
    "mae_mm": "MAE (mm, ↓)",
    "crps_mm": "CRPS (mm, ↓)",
    "coverage90": "90% coverage (→0.9)",
}


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _std_split(ds: xr.Dataset, protocol: str) -> tuple[float, float]:
    """Mean predictive std (mm) over target cells inside / outside the held-out region."""
    if "held_out_region" not in ds:
        return float("nan"), float("nan")
    sel = ds.isel(task=np.flatnonzero(ds["protocol"].values == protocol))
    target = sel["std"].notnull() & ~sel["is_context"]
    region = sel["held_out_region"].broadcast_like(target)
    inside = float(sel["std"].where(target & region).mean())
    outside = float(sel["std"].where(target & ~region).mean())
    return inside, outside


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--predictions", required=True, nargs="+", help="MODEL=PATH pairs")
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--netcdf", required=True, type=Path)
    parser.add_argument("--markdown", required=True, type=Path)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    pairs = dict(p.split("=", 1) for p in args.predictions)
    datasets = {m: xr.open_zarr(p, consolidated=False).load() for m, p in pairs.items()}
    first = next(iter(datasets.values()))
    protocols = [p for p in ("random", "held_out") if p in set(first["protocol"].values)]
    report: dict = {
        "experiment": config.data.name,
        "num_samples": int(first.attrs["num_samples"]),
        "held_out_country": config.data.held_out_country,
        "note": first.attrs["note"],
        "attribution": first.attrs["attribution"],
        "models": {},
    }
    shape = (len(datasets), len(protocols))
    table = {f"{s}_{k}": np.full(shape, np.nan) for s in SCORES for k in ("mean", "se")}
    table |= {k: np.full(shape, np.nan) for k in ("std_inside_mm", "std_outside_mm", "num_tasks")}
    for i, (model, ds) in enumerate(datasets.items()):
        report["models"][model] = {"noise_std_normalised": float(ds.attrs["noise_std_normalised"])}
        for j, protocol in enumerate(protocols):
            tasks = ds["protocol"].values == protocol
            entry = {"num_tasks": int(tasks.sum())}
            for score in SCORES:
                mean, se = metrics.summarise(ds[score].values[tasks])
                entry[score] = {"mean": mean, "se": se}
                table[f"{score}_mean"][i, j], table[f"{score}_se"][i, j] = mean, se
            inside, outside = _std_split(ds, protocol)
            entry["mean_std_mm"] = {"inside_region": inside, "outside_region": outside}
            table["std_inside_mm"][i, j], table["std_outside_mm"][i, j] = inside, outside
            table["num_tasks"][i, j] = entry["num_tasks"]
            report["models"][model][protocol] = entry
    out = xr.Dataset(
        {k: (("model", "protocol"), v) for k, v in table.items()},
        coords={"model": list(datasets), "protocol": protocols},
        attrs={k: str(v) for k, v in report.items() if k != "models"},
    )
    lines = [
        f"### ERA5 test metrics — experiment `{config.data.name}` "
        f"(S = {report['num_samples']} samples per task)",
        "",
        "| model | protocol | tasks | " + " | ".join(SCORES.values()) + " | std in / out region (mm) |",
        "|---" * (4 + len(SCORES)) + "|",
    ]
    for i, model in enumerate(datasets):
        for j, protocol in enumerate(protocols):
            cells = [f"{table[f'{s}_mean'][i, j]:.3f} ± {table[f'{s}_se'][i, j]:.3f}" for s in SCORES]
            std = f"{table['std_inside_mm'][i, j]:.3f} / {table['std_outside_mm'][i, j]:.3f}"
            lines.append(
                f"| {model} | {protocol} | {int(table['num_tasks'][i, j])} | "
                + " | ".join(cells)
                + f" | {std} |"
            )
    lines += ["", f"Mean ± standard error over tasks. {report['note']}", "", report["attribution"], ""]
    _atomic_write(args.json, lambda t: Path(t).write_text(json.dumps(report, indent=2)))
    _atomic_write(args.netcdf, lambda t: out.to_netcdf(t, engine="netcdf4"))
    _atomic_write(args.markdown, lambda t: Path(t).write_text("\n".join(lines)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
