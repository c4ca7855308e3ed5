"""Compute-matched comparison: CRPS against training CPU minutes for the ConvNP peer and the default BNNP.

One training run per method, on one torch thread, saves a snapshot each time its training loop has used
1, 2, 4, 8, 16 minutes of process CPU time (``time.process_time``; saving is not counted). Each snapshot is
then scored, as a separate command, on the validation tasks and on the test tasks of the pipeline
(:func:`climate_bnnp.tasks.era5_eval.build_test_grid`: random, sparse, gap and held-out protocols), so that a
saved snapshot can be rescored whenever the prediction store or the scoreboard changes.

Methods:

* ``convnp``: DeepSensor's Bernoulli–Gamma ConvNP on tp context only (``benchmarks/peer_deepsensor.py``:
  its training tasks, inputs, learning rate and prediction store).
* ``convnp_cov``: the same with t2m, msl, u10 and v10 as a second, gridded context set (every cell).
* ``bnnp``: the pipeline's train step (``climate_bnnp.steps.train``) on the config as given (the default
  ``configs/sample.yaml``: learned prior, its steps and learning-rate schedule), with CPU-time snapshots
  taken between optimiser steps; predictions by the pipeline's predict step.

Commands (DeepSensor lives in its own environment, see ``peer_deepsensor.py``)::

    /tmp/dsenv/bin/python benchmarks/compute_matched.py train --method convnp      # or convnp_cov
    python benchmarks/compute_matched.py train --method bnnp
    /tmp/dsenv/bin/python benchmarks/compute_matched.py score --method convnp  # all snapshots, both splits
    python benchmarks/compute_matched.py score --method bnnp [--minutes 4] [--splits val]
    python benchmarks/compute_matched.py report

Snapshots, prediction stores and per-task scores go to ``results/compute_matched/<method>/`` (git-ignored):
``cpu<m>.pt`` (weights), ``cpu<m>_<split>.zarr`` (prediction store), ``cpu<m>_<split>_scores.nc`` (per-task
scores with their protocol). ``report`` writes ``benchmarks/results/compute_matched.{json,md}`` and
``docs/figures/compute_matched.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import RESULTS, machine, write_json  # noqa: E402

from climate_bnnp.config import config_to_dict, load_config  # noqa: E402
from climate_bnnp.data import open_task_store  # noqa: E402
from climate_bnnp.data.files import atomic_write  # noqa: E402
from climate_bnnp.steps.evaluate import score_store  # noqa: E402
from climate_bnnp.tasks.era5 import Era5TaskSet  # noqa: E402
from climate_bnnp.tasks.era5_eval import EvalProtocols, build_test_grid  # noqa: E402

__all__ = ["METHODS", "MINUTES", "CpuSnapshots", "paired", "summarise"]

MINUTES = (1.0, 2.0, 4.0, 8.0, 16.0)
METRICS = ("crps_fair", "crps", "mae")  # per-task scores the report summarises; the first is the table's
SPLITS = ("val", "test")
COVARIATES = ("t2m", "msl", "u10", "v10")
METHODS = {  # method: covariates of the ConvNP (None: the BNNP)
    "convnp": (),
    "convnp_cov": COVARIATES,
    "bnnp": None,
}
REFERENCE = "bnnp"
RUN_DIR = ROOT / "results" / "compute_matched"
FIGURE = ROOT / "docs" / "figures" / "compute_matched.png"


def snapshot_path(run_dir: Path, method: str, minutes: float) -> Path:
    """``<run_dir>/<method>/cpu<minutes>.pt``."""
    return run_dir / method / f"cpu{minutes:g}.pt"


def _log_facts(run_dir: Path, method: str, minutes: float, facts: dict[str, Any]) -> None:
    """Append one snapshot's facts to ``<run_dir>/<method>/training.json`` (a dict keyed by minutes)."""
    path = run_dir / method / "training.json"
    log = json.loads(path.read_text()) if path.exists() else {}
    log[f"{minutes:g}"] = facts
    write_json(path, log)


# ------------------------------------------------------------------------------------------ training
def _peer():
    import peer_deepsensor

    return peer_deepsensor


def _peer_args(args: argparse.Namespace, covariates: tuple[str, ...], minutes: float) -> argparse.Namespace:
    """``peer_deepsensor``'s arguments for this run (its defaults: lr, UNet, one thread)."""
    argv = ["--config", str(args.config), "--likelihood", args.likelihood, "--cpu-minutes", f"{minutes:g}"]
    if args.store:
        argv += ["--store", str(args.store)]
    if covariates:
        argv += ["--covariates", *covariates]
    if args.max_steps:
        argv += ["--max-steps", str(args.max_steps)]
    return _peer().parse(argv)


def train_convnp(args: argparse.Namespace) -> None:
    """One ConvNP run up to the largest budget, a snapshot at each of ``args.minutes``."""
    import deepsensor.torch  # noqa: F401  (DeepSensor's torch backend)
    import torch

    peer = _peer()
    config = load_config(args.config)
    taskset = Era5TaskSet(open_task_store(_store(args, config)))
    pargs = _peer_args(args, METHODS[args.method], max(args.minutes))
    pargs.seed = config.train.seed
    inputs, ppu = peer.make_inputs(pargs, config, taskset)
    torch.set_num_threads(1)
    torch.manual_seed(pargs.seed)
    model, kwargs = peer.build_convnp(pargs, ppu, len(inputs.covariates))
    meta = {
        "method": args.method, "config": str(args.config), "store": str(_store(args, config)),
        "likelihood": pargs.likelihood, "covariates": list(inputs.covariates), "lr": pargs.lr,
        "seed": pargs.seed, "threads": 1, "parameters": int(sum(p.numel() for p in model.model.parameters())),
    }  # fmt: skip
    print(f"{args.method}: ConvNP {kwargs}, {meta['parameters']:,} parameters", flush=True)

    def on_snapshot(minutes: float, facts: dict[str, Any]) -> None:
        facts = facts | meta | {"load_average": os.getloadavg()}
        peer.save_snapshot(snapshot_path(args.run_dir, args.method, minutes), model, kwargs, facts)
        _log_facts(args.run_dir, args.method, minutes, facts)
        print(f"snapshot at {minutes:g} CPU minutes: {facts['steps']} steps", flush=True)

    peer.train(model, inputs, peer.train_tasks(taskset, config, pargs.seed), pargs, args.minutes, on_snapshot)


class CpuSnapshots:
    """A task sampler that calls ``save(minutes)`` when the training loop has used each CPU budget.

    Wraps the train step's sampler: the loop draws one batch per optimiser step, so at a draw every earlier
    step is complete. CPU time is this process's ``time.process_time`` since construction, less the time spent
    in ``save``. Every other attribute is the wrapped sampler's.

    Args:
        sampler: the train step's :class:`~climate_bnnp.tasks.TaskSampler`.
        minutes: ascending CPU-minute budgets. save: called with each budget once it is used up.
    """

    def __init__(self, sampler, minutes, save) -> None:
        self._sampler, self._marks, self._save = sampler, sorted(float(m) for m in minutes), save
        self._cpu0, self._excluded, self.draws = time.process_time(), 0.0, 0

    def used(self) -> float:
        """Training CPU seconds so far (snapshot saving excluded)."""
        return time.process_time() - self._cpu0 - self._excluded

    def sample(self, batch_size: int):
        while self._marks and self.used() >= 60.0 * self._marks[0]:
            tick = time.process_time()
            self._save(self._marks.pop(0), self.draws)
            self._excluded += time.process_time() - tick
        self.draws += 1
        return self._sampler.sample(batch_size)

    def __getattr__(self, name: str):
        return getattr(self._sampler, name)


def train_bnnp(args: argparse.Namespace) -> None:
    """The pipeline's train step on ``args.config``, with CPU-minute snapshots (pipeline checkpoints)."""
    import torch

    from climate_bnnp.checkpoint import save_checkpoint
    from climate_bnnp.steps import train as train_step

    config = load_config(args.config)
    fit = train_step.fit
    wall0 = time.perf_counter()

    def fit_with_snapshots(model, sampler, train_config, **kwargs):
        def save(minutes: float, steps: int) -> None:
            facts = {
                "method": "bnnp", "config": str(args.config), "steps": steps, "cpu_minutes": snap.used() / 60,
                "wall_minutes": (time.perf_counter() - wall0) / 60, "threads": 1,
                "parameters": int(sum(p.numel() for p in model.parameters())),
                "load_average": os.getloadavg(),
            }  # fmt: skip
            path = snapshot_path(args.run_dir, "bnnp", minutes)
            save_checkpoint(path, model, schema=kwargs["schema"], experiment=kwargs["experiment"])
            _log_facts(args.run_dir, "bnnp", minutes, facts)
            print(f"snapshot at {minutes:g} CPU minutes: {steps} steps", flush=True)

        snap = CpuSnapshots(sampler, args.minutes, save)
        records = fit(model, snap, train_config, **kwargs)
        save(float("inf"), snap.draws)  # the full schedule's end, as "final"
        return records

    train_step.fit = fit_with_snapshots  # the step's own setup (seeds, sampler, prior), our snapshots
    try:
        out = args.run_dir / "bnnp" / "final.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        ns = argparse.Namespace(config=args.config, store=_store(args, config), prior="learned", out=out,
                                log=args.run_dir / "bnnp" / "train.jsonl", threads=1, argv=[])  # fmt: skip
        torch.set_num_threads(1)
        train_step.run(ns)
    finally:
        train_step.fit = fit
    # the final snapshot is keyed "inf": rename it to its CPU minutes (file first, then the log)
    path = args.run_dir / "bnnp" / "training.json"
    log = json.loads(path.read_text())
    final = log.pop("inf") | {"final": True}
    minutes = float(f"{final['cpu_minutes']:.2f}")
    os.replace(
        snapshot_path(args.run_dir, "bnnp", float("inf")), snapshot_path(args.run_dir, "bnnp", minutes)
    )
    write_json(path, log | {f"{minutes:g}": final})


# ------------------------------------------------------------------------------------------- scoring
def _store(args: argparse.Namespace, config) -> Path:
    return args.store or Path(config.data.data_dir) / config.data.name / "tasks.zarr"


def _snapshots(run_dir: Path, method: str) -> list[float]:
    log = run_dir / method / "training.json"
    keys = json.loads(log.read_text()) if log.exists() else {}
    return sorted(float(k) for k in keys if np.isfinite(float(k)))  # "inf": the BNNP's end, being renamed


def predict_snapshot(args: argparse.Namespace, minutes: float, split: str) -> Path:
    """Write the prediction store of one snapshot on one split; its path."""
    config = load_config(args.config)
    out = args.run_dir / args.method / f"cpu{minutes:g}_{split}.zarr"
    path = snapshot_path(args.run_dir, args.method, minutes)
    if METHODS[args.method] is None:  # the pipeline's predict step on a config with this eval split
        from climate_bnnp.steps import predict_tasks

        cfg = dataclasses.replace(config, data=dataclasses.replace(config.data, eval_split=split))
        with tempfile.TemporaryDirectory(prefix="compute_matched_") as tmp:
            cfg_path = Path(tmp) / "config.yaml"
            cfg_path.write_text(yaml.safe_dump(config_to_dict(cfg)))
            ns = argparse.Namespace(config=cfg_path, store=_store(args, config), checkpoint=path, out=out,
                                    threads=1)  # fmt: skip
            predict_tasks.run(ns)
        return out
    import deepsensor.torch  # noqa: F401
    import torch

    peer = _peer()
    torch.set_num_threads(1)
    model, _, facts = peer.load_snapshot(path)
    taskset = Era5TaskSet(open_task_store(_store(args, config)))
    pargs = _peer_args(args, tuple(facts["covariates"]), minutes)
    inputs, _ = peer.make_inputs(pargs, config, taskset)
    data = config.data
    protocols = EvalProtocols.from_config(data, taskset.store)
    tests = build_test_grid(taskset.store, taskset.schema, split=split, settings=protocols)
    attrs = {"method": f"deepsensor_convnp ({args.method}, {minutes:g} CPU min)",
             "attribution": taskset.store.attrs["attribution"]}  # fmt: skip
    peer.write_predictions(model, inputs, tests, pargs, data, attrs, out)
    return out


def score_snapshot(store: Path) -> Path:
    """Per-unit scores of a prediction store (the evaluate step's, fair CRPS included) beside it, as
    NetCDF."""
    scores = score_store(xr.open_zarr(store, consolidated=False).load())
    out = store.with_name(store.name.replace(".zarr", "_scores.nc"))
    atomic_write(out, lambda t: scores.to_netcdf(t))
    return out


def score_one(args: argparse.Namespace, minutes: float, split: str) -> None:
    """Predict (unless ``--reuse`` finds the store) and score one snapshot on one split."""
    cpu0 = time.process_time()
    store = args.run_dir / args.method / f"cpu{minutes:g}_{split}.zarr"
    if not (args.reuse and (store / "zarr.json").exists()):
        store = predict_snapshot(args, minutes, split)
    out = score_snapshot(store)
    cpu = time.process_time() - cpu0
    print(f"{args.method} {minutes:g} min {split}: {out} ({cpu:.0f} CPU s)", flush=True)


def score(args: argparse.Namespace) -> None:
    """Predict and score every requested snapshot of a method on every requested split."""
    minutes = args.minutes if args.minutes_given else _snapshots(args.run_dir, args.method)
    for m in minutes:
        for split in args.splits:
            score_one(args, m, split)


def score_watch(args: argparse.Namespace) -> None:
    """Score snapshots of ``--methods`` as the training runs write them (test split first, fewest minutes
    first), until ``<run_dir>/STOP`` exists and none is left. Several watchers share the work: each claims
    a snapshot and split with a ``.claim`` file before scoring it."""
    while True:
        todo = [
            (split != "test", m, method, split)
            for method in args.methods
            for m in _snapshots(args.run_dir, method)
            for split in args.splits
            if not (args.run_dir / method / f"cpu{m:g}_{split}_scores.nc").exists()
            and not (args.run_dir / method / f"cpu{m:g}_{split}.claim").exists()
        ]
        if not todo:
            if (args.run_dir / "STOP").exists():
                return
            time.sleep(60)
            continue
        _, m, method, split = min(todo)
        try:
            (args.run_dir / method / f"cpu{m:g}_{split}.claim").open("x").close()
        except FileExistsError:  # another watcher took it meanwhile
            continue
        score_one(argparse.Namespace(**{**vars(args), "method": method}), m, split)


# -------------------------------------------------------------------------------------------- report
def summarise(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of ``values`` (``(n,)``)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean ± s.e. of ``a − b`` over the same tasks (``(n,)`` each)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same tasks: got {a.shape} and {b.shape}.")
    return summarise(a - b)


def _load_scores(run_dir: Path, method: str, minutes: float, split: str) -> xr.Dataset | None:
    path = run_dir / method / f"cpu{minutes:g}_{split}_scores.nc"
    return xr.load_dataset(path) if path.exists() else None


def collect(run_dir: Path, protocols=("random", "held_out"), metrics_=METRICS) -> dict[str, Any]:
    """Per method, snapshot and split: training facts, mean ± s.e. of each of ``metrics_`` (present in the
    scores) per protocol, and the paired difference to the BNNP snapshot of the nearest CPU minutes not above
    (same tasks)."""
    out: dict[str, Any] = {}
    bnnp_minutes = _snapshots(run_dir, REFERENCE)
    for method in METHODS:
        minutes = _snapshots(run_dir, method)
        facts = json.loads((run_dir / method / "training.json").read_text()) if minutes else {}
        rows = []
        for m in minutes:
            f = facts[f"{m:g}"]
            row = {"minutes": m, "steps": f["steps"], "cpu_minutes": f["cpu_minutes"],
                   "wall_minutes": f["wall_minutes"], "final": bool(f.get("final", False))}  # fmt: skip
            for split in SPLITS:
                s = _load_scores(run_dir, method, m, split)
                if s is None:
                    continue
                ref_m = max((b for b in bnnp_minutes if b <= m + 1e-9), default=None)
                ref = _load_scores(run_dir, REFERENCE, ref_m, split) if ref_m is not None else None
                names = [n for n in metrics_ if n in s and (ref is None or n in ref)]
                for protocol in protocols:
                    sel = s["protocol"].values == protocol
                    if not sel.any():
                        continue
                    cell = {"tasks": int(sel.sum())} | {n: summarise(s[n].values[sel]) for n in names}
                    if ref is not None and method != REFERENCE:
                        cell["delta_vs_bnnp"] = {"bnnp_minutes": ref_m} | {
                            n: paired(s[n].values[sel], ref[n].values[sel]) for n in names
                        }
                    row[f"{split}_{protocol}"] = cell
            rows.append(row)
        if rows:
            out[method] = rows
    return out


def _fmt(ms: tuple[float, float]) -> str:
    return f"{ms[0]:.4f} ± {ms[1]:.4f}"


def _delta(cell: dict[str, Any], metric: str) -> str:
    """``+d ± se (m min)``: a table cell's paired difference to the BNNP at m CPU minutes, or a dash."""
    delta = cell.get("delta_vs_bnnp", {})
    if metric not in delta:
        return "—"
    d, se = delta[metric]
    return f"{d:+.4f} ± {se:.4f} ({delta['bnnp_minutes']:g} min)"


def report(args: argparse.Namespace) -> None:
    """The table, JSON and figure from the per-task scores on disk."""
    table, metric = collect(args.run_dir), args.metric
    name = {"crps_fair": "fair CRPS", "crps": "CRPS", "mae": "MAE"}[metric]
    notes = args.notes.read_text().strip() if args.notes else ""

    def cell(c: dict[str, Any]) -> str:
        return _fmt(c[metric]) if metric in c else "—"

    lines = [
        f"### Compute-matched comparison — {name} (mm; random protocol unless marked) against training "
        "CPU minutes, one thread",
        "",
        f"| method | CPU min | steps | wall min | val {name} | val Δ vs BNNP | test {name} | test Δ vs BNNP "
        f"| test {name} (held-out) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, rows in table.items():
        for r in rows:
            val, test, held = r.get("val_random", {}), r.get("test_random", {}), r.get("test_held_out", {})
            lines.append(
                f"| {method}{' (final)' if r['final'] else ''} | {r['cpu_minutes']:.2f} | {r['steps']} "
                f"| {r['wall_minutes']:.1f} | {cell(val)} | {_delta(val, metric)} | {cell(test)} "
                f"| {_delta(test, metric)} | {cell(held)} |"
            )
    command = f"python benchmarks/compute_matched.py {' '.join(sys.argv[1:])}"
    lines += ["", notes, "", f"Command: `{command}`", ""]
    write_json(
        RESULTS / "compute_matched.json",
        {
            "metric": metric,
            "table": table,
            "notes": notes,
            "machine": machine(),
            "command": " ".join(sys.argv),
        },
    )
    atomic_write(RESULTS / "compute_matched.md", lambda t: Path(t).write_text("\n".join(lines)))
    figure(table, FIGURE, metric, name)
    print("\n".join(lines), flush=True)


def figure(table: dict[str, Any], path: Path, metric: str, name: str) -> None:
    """``metric`` (random protocol) against CPU minutes (log x), val and test, one line per method (top), and
    each method's paired difference to the BNNP (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey="row")
    colours = dict(zip(METHODS, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    for col, split in enumerate(SPLITS):
        for method, rows in table.items():
            cells = [(r["cpu_minutes"], r[f"{split}_random"]) for r in rows if f"{split}_random" in r]
            for row, get in (
                (0, lambda c: c.get(metric)),
                (1, lambda c: c.get("delta_vs_bnnp", {}).get(metric)),
            ):
                pts = [(m, *get(c)) for m, c in cells if get(c) is not None]
                if pts:
                    x, y, se = map(np.array, zip(*pts, strict=True))
                    axes[row, col].errorbar(
                        x, y, yerr=2 * se, marker="o", capsize=3, label=method, color=colours[method]
                    )
        axes[0, col].set_title(f"{split} tasks, random protocol")
        axes[1, col].axhline(0.0, color="tab:green", lw=1)
        axes[1, col].set_xlabel("training CPU minutes (1 thread)")
        for ax in axes[:, col]:
            ax.set_xscale("log")
            ax.set_xticks(MINUTES, [f"{m:g}" for m in MINUTES])
            ax.minorticks_off()
            ax.set_xlim(0.8, 20)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    axes[0, 0].set_ylabel(f"{name} (mm), mean ± 2 s.e.")
    axes[1, 0].set_ylabel(f"Δ {name} vs BNNP (mm), paired ± 2 s.e.")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda t: fig.savefig(t, dpi=120, format="png"))
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("train", "score", "watch", "report"))
    p.add_argument("--method", choices=tuple(METHODS))
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "sample.yaml")
    p.add_argument("--store", type=Path, help="task store (default <data_dir>/<name>/tasks.zarr)")
    p.add_argument("--minutes", type=float, nargs="+", help=f"CPU-minute snapshots (default {MINUTES})")
    p.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    p.add_argument("--likelihood", default="bernoulli-gamma", help="the ConvNP's (peer_deepsensor.py)")
    p.add_argument("--max-steps", type=int, help="stop the ConvNP earlier (smoke runs)")
    p.add_argument("--run-dir", type=Path, default=RUN_DIR)
    p.add_argument("--methods", nargs="+", choices=tuple(METHODS), default=list(METHODS), help="watch")
    p.add_argument("--reuse", action="store_true", help="score: an existing prediction store is not redone")
    p.add_argument("--notes", type=Path, help="report: a Markdown file printed under the table")
    p.add_argument("--metric", choices=METRICS, default=METRICS[0], help="report: the table's and figure's")
    args = p.parse_args(argv)
    args.minutes_given = args.minutes is not None
    args.minutes = tuple(args.minutes or MINUTES)
    if args.command in ("train", "score") and args.method is None:
        p.error(f"{args.command} needs --method (one of {', '.join(METHODS)}).")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "train":
        (train_bnnp if METHODS[args.method] is None else train_convnp)(args)
    elif args.command == "score":
        score(args)
    elif args.command == "watch":
        score_watch(args)
    else:
        report(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
