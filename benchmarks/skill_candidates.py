"""BNNP candidates on the sample pipeline's VALIDATION split: train, predict, paired scores vs a base run.

Each candidate is a complete experiment config with ``data.eval_split: val``. The script runs the pipeline's
steps in this process's children (``climate-bnnp train`` and ``predict-tasks`` with ``--threads 1``),
measures the training step's CPU time (process time of the child, user + system), scores the predictions
with the evaluate step's scorer and gives the paired difference (candidate − base) per protocol over the
validation tasks, mean ± standard error. Records go to ``benchmarks/results/skill_candidates.json`` (one
entry per candidate name) and the table ``benchmarks/results/skill_candidates.md``.

Usage (the task store from ``snakemake data/sample/tasks.zarr/zarr.json --configfile <val config>``)::

    python benchmarks/skill_candidates.py run --name base --config benchmarks/skill_configs/base.yaml
    python benchmarks/skill_candidates.py run --name ctx4 --base base \\
        --config benchmarks/skill_configs/ctx4.yaml
    python benchmarks/skill_candidates.py table

The candidates without the RFF features (``*_norff``, ``data.name: sample_norff``) need their own task store
(``snakemake data/sample_norff/tasks.zarr/zarr.json --configfile benchmarks/skill_configs/ctx4_norff.yaml``)
and ``--store data/sample_norff/tasks.zarr``; the paired scores check that the tasks and cells are the same.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from climate_bnnp.config import config_to_dict, load_config
from climate_bnnp.steps.evaluate import _scores

RESULTS = Path(__file__).parent / "results"
JSON_PATH = RESULTS / "skill_candidates.json"
MD_PATH = RESULTS / "skill_candidates.md"
SCORES = ("crps", "mae", "brier_rain")


def _child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _step(args: list[str]) -> float:
    """Run ``climate-bnnp ARGS`` to completion; its CPU seconds (user + system)."""
    before = _child_cpu_seconds()
    subprocess.run([sys.executable, "-m", "climate_bnnp.cli", *args], check=True)
    return _child_cpu_seconds() - before


def _task_scores(store: Path) -> xr.Dataset:
    pred = xr.open_zarr(store, consolidated=False).load()
    scores = _scores(pred)
    return scores.assign_coords(protocol=("task", pred["protocol"].values))


def _summary(scores: xr.Dataset, base: xr.Dataset | None) -> dict:
    """Per protocol: mean ± s.e. of each score over tasks and the paired difference against ``base``."""
    out = {}
    for protocol in dict.fromkeys(scores["protocol"].values.tolist()):
        tasks = scores["protocol"].values == protocol
        row = {"num_tasks": int(tasks.sum())}
        for name in SCORES:
            values = scores[name].values[tasks]
            row[name] = [float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))]
            if base is not None:
                if not np.array_equal(scores["num_targets"].values, base["num_targets"].values):
                    raise ValueError("the candidate and the base were scored on other tasks or cells.")
                diff = values - base[name].values[tasks]
                row[f"{name}_diff"] = [float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))]
        out[protocol] = row
    return out


def run(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    if config.data.eval_split != "val":
        raise SystemExit(
            f"{args.config}: data.eval_split is {config.data.eval_split!r}; choose on 'val' only."
        )
    folder = Path(args.workdir) / args.name
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint, predictions = folder / "learned.pt", folder / "predictions.zarr"
    common = ["--config", str(args.config), "--store", str(args.store)]
    start = time.perf_counter()
    if args.trained_cpu_minutes is None:
        train_cpu = _step(["train", *common, "--prior", "learned", "--out", str(checkpoint),
                           "--log", str(folder / "train.jsonl"), "--threads", "1"])  # fmt: skip
    else:  # trained already (same command), its CPU time measured from outside
        train_cpu = 60 * args.trained_cpu_minutes
    train_wall = time.perf_counter() - start
    predict_cpu = None  # an existing prediction store of a checkpoint trained already is scored as it is
    if args.trained_cpu_minutes is None or not (predictions / "zarr.json").exists():
        predict_cpu = _step(["predict-tasks", *common, "--checkpoint", str(checkpoint),
                             "--out", str(predictions), "--threads", "1"])  # fmt: skip
    scores = _task_scores(predictions)
    base = None if args.base is None else _task_scores(Path(args.workdir) / args.base / "predictions.zarr")
    records = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
    records[args.name] = {
        "config": str(args.config),
        "data": config_to_dict(config.data),
        "model": config_to_dict(config.model),
        "train": config_to_dict(config.train),
        "train_cpu_minutes": train_cpu / 60,
        "train_wall_minutes": train_wall / 60,
        "predict_cpu_minutes": None if predict_cpu is None else predict_cpu / 60,
        "base": args.base,
        "val": _summary(scores, base),
    }
    JSON_PATH.write_text(json.dumps(records, indent=1) + "\n")
    write_table(records)


def _fmt(pair: list[float], digits: int = 4) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def write_table(records: dict) -> None:
    lines = [
        "# BNNP candidates on the validation split (sample pipeline)",
        "",
        "Written by `benchmarks/skill_candidates.py` (see its docstring for the commands). Scores are",
        "means ± standard errors over the validation tasks (CRPS and MAE in mm, Brier of rain > 0.1 mm);",
        "`Δ` is the paired difference candidate − base over the same tasks (negative: the candidate is",
        "better). Training CPU minutes: process time of `climate-bnnp train --threads 1` (the machine was",
        "shared, so wall time is longer).",
        "",
        "| candidate | protocol | train CPU min | CRPS | Δ CRPS | MAE | Δ MAE | Brier | Δ Brier |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rec in records.items():
        for protocol, row in rec["val"].items():
            diffs = [_fmt(row[f"{s}_diff"]) if f"{s}_diff" in row else "—" for s in SCORES]
            lines.append(
                f"| {name} | {protocol} ({row['num_tasks']}) | {rec['train_cpu_minutes']:.1f} | "
                f"{_fmt(row['crps'])} | {diffs[0]} | {_fmt(row['mae'])} | {diffs[1]} | "
                f"{_fmt(row['brier_rain'])} | {diffs[2]} |"
            )
    lines += ["", "Configs (the JSON file has each run's data, model and train sections):", ""]
    for name, rec in records.items():
        note = f"; {rec['note']}" if "note" in rec else ""
        lines.append(f"- `{name}`: `{rec['config']}` (base: {rec['base'] or '—'}){note}")
    MD_PATH.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train, predict and score one candidate")
    p.add_argument("--name", required=True)
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--store", default=Path("data/sample/tasks.zarr"), type=Path)
    p.add_argument("--base", default=None, help="name of the run to pair with")
    p.add_argument("--workdir", default="results/skill")
    p.add_argument(
        "--trained-cpu-minutes",
        type=float,
        default=None,
        help="<workdir>/<name>/learned.pt was trained by the same command: skip training, record this time",
    )
    sub.add_parser("table", help="rewrite the Markdown table from the JSON file")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args)
    else:
        write_table(json.loads(JSON_PATH.read_text()))


if __name__ == "__main__":
    main()
