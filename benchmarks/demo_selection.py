"""Choose the demo's model on the VALIDATION split: CRPS of each candidate against per-task kriging.

Each candidate is ``configs/sample.yaml`` (whose features are the winner, ``covariates_rff``) with a few
overrides, evaluated on ``data.eval_split: val`` (the
4 validation time steps; the test split is never looked at) by a real ``snakemake all`` run. The table
gives, per candidate, the learned-prior BNNP's CRPS on the random protocol, its paired difference to
kriging and to the standard prior (± s.e. over tasks), 90 % coverage, the held-out std ratio, and the
training minutes (the learned-prior training's mean logged step time × steps).

Usage: ``python benchmarks/demo_selection.py [--only NAME ...] [--cores 2]``
Writes ``benchmarks/results/demo_selection.{json,md}`` (results of earlier candidates are kept).
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "demo_selection"
COVARIATES = ["xyz", "t2m", "msl", "u10", "v10"]

CANDIDATES: dict[str, dict] = {
    "xyz_t2m": {"data": {"features": ["xyz", "t2m"]}, "model": {"dim_x": 4}},  # the demo before this study
    "covariates": {"data": {"features": COVARIATES}, "model": {"dim_x": 7}},
    "covariates_attn": {"data": {"features": COVARIATES}, "model": {"dim_x": 7, "kind": "attn_bnnp"}},
    "covariates_wide": {
        "data": {"features": COVARIATES},
        "model": {"dim_x": 7, "hidden_dims": [64, 64], "inf_hidden_dims": [64, 64]},
    },
    "covariates_bg": {
        "data": {"features": COVARIATES, "tp_transform": "scale"},
        "model": {"dim_x": 7, "likelihood": "bernoulli_gamma", "noise_init": 0.3},
    },
    "covariates_rff": {
        "data": {"features": [*COVARIATES, "rff3", "rff10"]},
        "model": {"dim_x": 55},
    },
    "covariates_rff_bg": {
        "data": {"features": [*COVARIATES, "rff3", "rff10"], "tp_transform": "scale"},
        "model": {"dim_x": 55, "likelihood": "bernoulli_gamma"},
    },
    "covariates_2x_steps": {
        "data": {"features": COVARIATES},
        "model": {"dim_x": 7},
        "train": {"steps": 2400},
    },
}


def _config(name: str, overrides: dict) -> dict:
    config = yaml.safe_load((ROOT / "configs" / "sample.yaml").read_text())
    for section, values in overrides.items():
        config[section].update(copy.deepcopy(values))
    config["data"].update({"name": f"select_{name}", "eval_split": "val", "results_dir": "results/selection"})
    return config


def _row(name: str, config: dict, seconds: float) -> dict:
    res = ROOT / "results" / "selection" / f"select_{name}"
    report = json.loads((res / "metrics.json").read_text())
    summary = report["summary"]
    models, groups = summary["model"], summary["group"]
    j = groups.index("random")

    def cell(key: str, model: str) -> float:
        return summary[key][models.index(model)][j]

    logged = [json.loads(line)["seconds"] for line in (res / "train_learned.jsonl").read_text().splitlines()]
    train_s = (
        sum(logged) / len(logged) * config["train"]["steps"]
    )  # the log has one step time every log_every
    inside, outside = report["std_inside_outside_region_mm"]["learned"].get("held_out", [float("nan")] * 2)
    return {
        "candidate": name,
        "overrides": CANDIDATES[name],
        "crps_learned": cell("crps_mean", "learned"),
        "crps_kriging": cell("crps_mean", "kriging"),
        "crps_standard": cell("crps_mean", "standard"),
        "learned_minus_kriging": [-cell("crps_diff_mean", "kriging"), cell("crps_diff_se", "kriging")],
        "learned_minus_standard": [-cell("crps_diff_mean", "standard"), cell("crps_diff_se", "standard")],
        "coverage90": cell("coverage90_mean", "learned"),
        "held_out_std_ratio": inside / outside,
        "train_minutes": train_s / 60.0,
        "pipeline_minutes": seconds / 60.0,
        "steps": config["train"]["steps"],
    }


def _markdown(rows: list[dict]) -> str:
    lines = [
        "| candidate | CRPS learned (mm) | CRPS kriging | learned − kriging | learned − standard | 90% cov. "
        "| held-out std in/out | train min | pipeline min |",
        "|---" * 9 + "|",
    ]
    for r in rows:
        dk, ds = r["learned_minus_kriging"], r["learned_minus_standard"]
        lines.append(
            f"| {r['candidate']} | {r['crps_learned']:.4f} | {r['crps_kriging']:.4f} "
            f"| {dk[0]:+.4f} ± {dk[1]:.4f} "
            f"| {ds[0]:+.4f} ± {ds[1]:.4f} | {r['coverage90']:.3f} | {r['held_out_std_ratio']:.2f} "
            f"| {r['train_minutes']:.1f} | {r['pipeline_minutes']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="candidate names (default: all)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--rescan", action="store_true", help="only re-read finished runs, run nothing")
    args = parser.parse_args(argv)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    path = OUT.with_suffix(".json")
    rows = {r["candidate"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for name in args.only or list(CANDIDATES):
        config = _config(name, CANDIDATES[name])
        cfg_path = ROOT / "results" / "selection" / f"{name}.yaml"
        cfg_path.parent.mkdir(parents=True, exist_ok=True)
        cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
        if args.rescan:
            if (ROOT / "results" / "selection" / f"select_{name}" / "metrics.json").exists():
                rows[name] = _row(name, config, rows.get(name, {}).get("pipeline_minutes", float("nan")) * 60)
            continue
        tick = time.perf_counter()
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "all",
            "--configfile",
            str(cfg_path),
            "--cores",
            str(args.cores),
        ]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{name}: snakemake failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        rows[name] = _row(name, config, time.perf_counter() - tick)
        print(json.dumps(rows[name]), flush=True)
        path.write_text(json.dumps(list(rows.values()), indent=2) + "\n")
        OUT.with_suffix(".md").write_text(_markdown(list(rows.values())))
    if args.rescan:
        path.write_text(json.dumps(list(rows.values()), indent=2) + "\n")
        OUT.with_suffix(".md").write_text(_markdown(list(rows.values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
