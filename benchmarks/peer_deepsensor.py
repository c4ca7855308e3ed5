"""Peer comparison: DeepSensor's ConvNP trained on the pipeline's training tasks, scored on its test tasks.

A user comparing tools would try DeepSensor (https://github.com/alan-turing-institute/deepsensor), the
convolutional neural processes for environmental data. This script gives its ConvNP the pipeline's data
and budget and scores it the pipeline's way, so its numbers sit next to the BNNP's and the baselines':

* **Training tasks**: the task store's train split, exactly as ``pipelines/train.py`` draws them
  (:class:`climate_bnnp.tasks.TaskSampler` over :func:`climate_bnnp.tasks.era5.train_source`: one tile of
  one time step, ``data.subsample_fraction`` of its cells, context proportion
  ``π ~ U(tasks.context_fraction)``, the other cells targets, at most ``tasks.max_targets``; the same
  seeded draws), one task per optimiser step (DeepSensor 0.4.4's ``concat_tasks`` batching marks real
  context points as missing, so no batching). Target: the store schema's transformed, normalised
  ``tp`` (``schema.target_forward``), the same units the BNNP is trained in. Inputs: latitude and
  longitude in units of one tile edge (a 30° tile spans 1 unit), the internal grid at the data's density
  (one point per cell), encoder/decoder length scales as DeepSensor's ``TaskLoader`` defaults would set
  them (0.5 and 1 grid spacing). ``--covariates``: the gridded covariates (every cell of the tile,
  normalised) as a second context set.
* **Budget**: ``--cpu-minutes`` of process CPU time (``time.process_time``) on ``--threads`` torch
  threads, counted over the training loop alone (task building included): the pipeline trains with one.
* **Test tasks**: the pipeline's own gridded test set, :func:`climate_bnnp.tasks.era5_eval.build_test_grid`
  (random, sparse, gap and held-out-region protocols of ``data``, ``data.eval_seed``), with the same context
  cells. The ConvNP predicts every valid cell of each test unit (one tile of one test field); its predictive
  (model units) goes through :func:`climate_bnnp.prediction.gaussian_prediction` (or the Bernoulli–Gamma
  likelihood's point prediction: ``prob_rain`` and ``bg_*`` as a Bernoulli–Gamma BNNP's) onto the tile
  (:func:`~climate_bnnp.tasks.era5_eval.cells_on_tile`) and
  :func:`~climate_bnnp.tasks.era5_eval.predict_grid`, written as a Zarr store that
  ``climate-bnnp evaluate --predictions ... deepsensor=<out>`` scores next to the pipeline's models.
* **Scores**: :func:`climate_bnnp.steps.evaluate.score_store` (the evaluate step's per-unit scores) and
  :func:`~climate_bnnp.metrics.compare_methods` against the pipeline's kriging store
  (``<results_dir>/<name>/predictions/kriging.zarr``; computed with ``pipelines/baseline.py`` into a
  temporary folder when missing or built on other tasks), plus every other pipeline store found there that
  holds the same test fields.

DeepSensor is an optional extra (``pip install -e .[peer]``), never a core dependency. Install it in a
virtual environment that sees the project's packages, so that it does not replace torch/numpy/xarray:
``python -m venv --system-site-packages /tmp/dsenv && /tmp/dsenv/bin/pip install deepsensor==0.4.4``.

Usage: ``/tmp/dsenv/bin/python benchmarks/peer_deepsensor.py --config configs/sample.yaml
[--store data/sample/tasks.zarr] [--cpu-minutes 3] [--likelihood cnp|bernoulli-gamma] [--split test|val]
[--covariates [NAME ...]] [--out results/sample/predictions/deepsensor.zarr]``
Writes the prediction store and ``benchmarks/results/peer_deepsensor.{json,md}`` (``--results``).
``benchmarks/compute_matched.py`` drives the same training with snapshots at given CPU minutes
(:func:`train`'s ``snapshots``, :func:`save_snapshot`) and rescores saved weights (:func:`load_snapshot`,
:func:`write_predictions`, the one place that lays out a ConvNP prediction store).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
import warnings
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine, peak_rss_mb, write_json  # noqa: E402

from climate_bnnp import metrics  # noqa: E402
from climate_bnnp.config import config_to_dict, load_config  # noqa: E402
from climate_bnnp.data import InputSchema, open_task_store, write_zarr_atomic  # noqa: E402
from climate_bnnp.data.files import atomic_write  # noqa: E402
from climate_bnnp.likelihoods import get_likelihood  # noqa: E402
from climate_bnnp.prediction import DEFAULT_QUANTILES  # noqa: E402
from climate_bnnp.prediction.gaussian import gaussian_prediction  # noqa: E402
from climate_bnnp.prediction.points import point_prediction  # noqa: E402
from climate_bnnp.prediction.summary import check_target_transform  # noqa: E402
from climate_bnnp.steps.evaluate import score_store  # noqa: E402
from climate_bnnp.tasks import split_context_target  # noqa: E402
from climate_bnnp.tasks.era5 import Era5Task, Era5TaskSet  # noqa: E402
from climate_bnnp.tasks.era5_eval import (  # noqa: E402
    EvalProtocols,
    PredictTile,
    build_test_grid,
    cells_on_tile,
    predict_grid,
    tile_units,
)

METHOD = "deepsensor"
PIPELINE_METHODS = ("learned", "standard", "kriging", "idw", "context_mean")  # scored too when present
REFERENCE = "kriging"
LIKELIHOODS = ("cnp", "bernoulli-gamma")  # DeepSensor 0.4.4 ConvNP likelihood= values used here


# --------------------------------------------------------------------------------------------- inputs
class Inputs:
    """DeepSensor inputs of the store's tasks: coordinates in tile units, target and covariates normalised.

    Args:
        taskset: the store's tasks. unit_deg: degrees per input unit (one tile edge).
        covariates: store variables given as a second, gridded context set (empty: tp context only),
            z-scored with the schema's statistics or, for variables it lacks, the train split's.
    """

    def __init__(self, taskset: Era5TaskSet, unit_deg: float, covariates: tuple[str, ...]) -> None:
        self.taskset, self.unit_deg, self.covariates = taskset, unit_deg, covariates
        store, norm = taskset.store, taskset.schema.normaliser
        missing = [c for c in covariates if c not in store.data_vars]
        if missing:
            raise ValueError(
                f"--covariates {missing} are not in the store (it has {sorted(store.data_vars)})."
            )
        self.stats: dict[str, tuple[float, float]] = {}
        train_times = sorted({k.time for k in taskset.keys("train")})
        for name in covariates:
            if name in norm.variables:
                self.stats[name] = (norm.mean[name], norm.std[name])
            else:  # the train split's statistics, as build_tasks fits the schema's
                values = store[name].isel(time=train_times)
                self.stats[name] = (float(values.mean()), float(values.std()))

    @cache  # noqa: B019 (one Inputs per run)
    def _field(self, name: str, time: int) -> np.ndarray:
        mean, std = self.stats[name]
        return (np.asarray(self.taskset.store[name].isel(time=time).values, np.float64) - mean) / std

    def x(self, task: Era5Task) -> np.ndarray:
        """``(2, N)`` inputs: latitude and longitude over the tile edge (DeepSensor's ``X`` layout)."""
        return np.stack([task.lat, task.lon]) / self.unit_deg

    def cov(self, task: Era5Task) -> np.ndarray:
        """``(C, N)`` normalised covariates at every cell of the task."""
        return np.stack([self._field(c, task.key.time)[task.rows, task.cols] for c in self.covariates])

    def task(self, task: Era5Task, context: np.ndarray, target: np.ndarray | None, with_y: bool):
        """A DeepSensor Task: tp context (and covariates at all cells), targets (``Y_t`` if ``with_y``)."""
        from deepsensor.data.task import Task

        x, y = self.x(task), task.y[:, 0][None, :]  # (2, N), (1, N) normalised tp
        xc, yc = [x[:, context]], [y[:, context]]
        if self.covariates:
            xc.append(x)
            yc.append(self.cov(task))
        tgt = slice(None) if target is None else target
        return Task({
            "X_c": xc, "Y_c": yc, "X_t": [x[:, tgt]], "Y_t": [y[:, tgt]] if with_y else None,
        })  # fmt: skip

    def tile_task(self, tile: xr.Dataset):
        """A DeepSensor Task of one test unit (:func:`climate_bnnp.tasks.era5_eval.tile_inputs`): tp context
        (and covariates at every cell), every valid cell a target; with the ``(h, w)`` valid-cell mask."""
        from deepsensor.data.task import Task

        schema = self.taskset.schema
        lat, lon = np.meshgrid(tile["latitude"].values, tile["longitude"].values, indexing="ij")  # (h, w)
        valid = np.logical_and.reduce([np.isfinite(tile[c].values) for c in schema.covariates])
        x = np.stack([lat[valid], lon[valid]]) / self.unit_deg  # (2, N)
        y = np.asarray(schema.target_forward(tile["tp"].values[valid]), np.float64)[None, :]  # (1, N)
        context = np.isfinite(y[0])
        xc, yc = [x[:, context]], [y[:, context]]
        if self.covariates:
            xc.append(x)
            yc.append(np.stack([(tile[c].values[valid] - m) / s for c, (m, s) in self.stats.items()]))
        return Task({"X_c": xc, "Y_c": yc, "X_t": [x], "Y_t": None}), valid


def train_tasks(taskset: Era5TaskSet, config, seed: int):
    """The pipeline's training stream, one task at a time: ``(task, context, target)`` index arrays.

    Same draws as ``TaskSampler(train_source(taskset, subsample_fraction), context_fraction, max_targets,
    seed)`` (one Generator, the same calls in the same order), but keeping cell indices so that the
    coordinates come along.
    """
    rng = np.random.default_rng(seed)
    keys = taskset.keys("train")
    if not keys:
        raise ValueError("the store's 'train' split has no tasks.")
    fraction = config.data.subsample_fraction
    while True:
        for _ in range(1000):  # as train_source: tiles with < 2 valid cells are redrawn
            task = taskset.task(keys[int(rng.integers(len(keys)))])
            n = len(task.x)
            if n >= 2:
                break
        else:
            raise ValueError("no task of the 'train' split has 2 valid cells in 1000 draws.")
        keep = rng.choice(n, size=min(n, max(2, round(fraction * n))), replace=False)
        idx = keep[:, None]
        context, _, target, _ = split_context_target(
            idx,
            idx,
            rng,
            context_fraction=config.tasks.context_fraction,
            max_targets=config.tasks.max_targets,
        )
        yield task, context[:, 0], target[:, 0]


# ---------------------------------------------------------------------------------------------- model
def build_convnp(args, ppu: int, num_covariates: int):
    from deepsensor.model.convnp import ConvNP

    dim_yc = (1, num_covariates) if num_covariates else (1,)
    kwargs = dict(
        dim_x=2, dim_yc=dim_yc, dim_yt=1, likelihood=args.likelihood, internal_density=ppu,
        unet_channels=tuple(args.unet_channels), encoder_scales=0.5 / ppu, decoder_scale=1.0 / ppu,
    )  # fmt: skip
    model = ConvNP(**kwargs)
    model._set_num_mixture_components()  # 0.4.4 sets it only when built from a TaskLoader (mixture_probs)
    return model, kwargs


def train(model, inputs: Inputs, stream, args, snapshots=(), on_snapshot=None) -> dict[str, Any]:
    """Adam on DeepSensor's ``loss_fn`` (mean target NLL), one task per step, until the CPU budget is out.

    Args:
        snapshots: training CPU minutes (ascending) at which ``on_snapshot(minutes, facts)`` is called with
            the run's facts so far (as returned); the CPU time of the callback is not counted as training.
    """
    import torch

    optimiser = torch.optim.Adam(model.model.parameters(), lr=args.lr)
    budget = 60.0 * args.cpu_minutes
    marks = sorted(float(m) for m in snapshots)
    losses, steps = [], 0
    excluded = 0.0  # CPU seconds spent in on_snapshot
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def used() -> float:
        return time.process_time() - cpu0 - excluded

    def facts() -> dict[str, Any]:
        cpu, wall = used(), time.perf_counter() - wall0
        window = max(1, min(100, steps // 10))
        return {
            "cpu_minutes": cpu / 60.0, "wall_minutes": wall / 60.0, "steps": steps,
            "cpu_seconds_per_step": cpu / max(steps, 1),
            "loss_first": float(np.mean(losses[:window])) if losses else float("nan"),
            "loss_last": float(np.mean(losses[-window:])) if losses else float("nan"), "loss_window": window,
        }  # fmt: skip

    while used() < budget and (args.max_steps is None or steps < args.max_steps):
        task, context, target = next(stream)
        optimiser.zero_grad()
        loss = model.loss_fn(inputs.task(task, context, target, with_y=True), normalise=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        steps += 1
        if steps % args.log_every == 0:
            print(
                f"step {steps:5d}  cpu {used():6.1f} s  "
                f"loss (mean of last {args.log_every}) {np.mean(losses[-args.log_every :]):.4f}",
                flush=True,
            )
        while marks and used() >= 60.0 * marks[0]:
            tick = time.process_time()
            on_snapshot(marks.pop(0), facts())
            excluded += time.process_time() - tick
    return facts()


def save_snapshot(path: Path, model, model_kwargs: dict[str, Any], facts: dict[str, Any]) -> None:
    """The ConvNP's weights, constructor arguments and the run's facts, atomically (``torch.save``)."""
    import torch

    state = {"state_dict": model.model.state_dict(), "convnp": model_kwargs, "facts": facts}
    atomic_write(path, lambda t: torch.save(state, t))


def load_snapshot(path: Path):
    """``(model, model_kwargs, facts)`` of a :func:`save_snapshot` file: the ConvNP with its weights."""
    import torch
    from deepsensor.model.convnp import ConvNP

    state = torch.load(path, map_location="cpu", weights_only=False)
    model = ConvNP(**state["convnp"])
    model._set_num_mixture_components()
    model.model.load_state_dict(state["state_dict"])
    return model, state["convnp"], state["facts"]


# ------------------------------------------------------------------------------------------ prediction
def bernoulli_gamma_prediction(prob, shape, scale, logit, lat, lon, **kw):
    """A per-point Bernoulli–Gamma predictive (model units) in the layout of a Bernoulli–Gamma BNNP's
    ``predict(..., return_samples=True)``: S identical draws of ``π, k, θ`` (a CNP has one), inverse-CDF
    predictive samples keyed per cell, ``prob_rain`` and ``bg_*`` for the mixed density (the logit keeps
    ``log(1 − π)`` finite where π rounds to 1)."""
    params = {"prob": prob, "shape": shape, "scale": scale, "logit": logit}
    return point_prediction(get_likelihood("bernoulli_gamma"), params, lat, lon, **kw)


def tile_predictor(model, inputs: Inputs, args, data, attrs) -> PredictTile:
    """The ConvNP as a :data:`~climate_bnnp.tasks.era5_eval.PredictTile`: every valid cell of a test unit,
    on the tile's grid."""
    schema = inputs.taskset.schema

    def predict_tile(tile: xr.Dataset, seed: int) -> xr.Dataset:
        task, valid = inputs.tile_task(tile)
        dist = model(task)
        lat, lon = np.meshgrid(tile["latitude"].values, tile["longitude"].values, indexing="ij")
        common = dict(schema=schema, num_samples=data.num_eval_samples, seed=seed,
                      quantiles=DEFAULT_QUANTILES, attrs=attrs)  # fmt: skip
        if args.likelihood == "cnp":
            mean = np.asarray(model.mean(dist), np.float64).reshape(-1)  # (N,) model units
            std = np.asarray(model.std(dist), np.float64).reshape(-1)
            cells = gaussian_prediction(mean, std, lat[valid], lon[valid], **common)
        else:
            # P(y > 0) = 1 - P(spike at 0), from the float32 log-probabilities in float64: exp in float32
            # (ConvNP.mixture_probs) rounds P(slab) to exactly 1 on confident cells, a zero density at y = 0
            log_spike = np.asarray(model._cast_numpy_and_squeeze(dist.logprobs), np.float64)[..., 0]
            prob = -np.expm1(log_spike).reshape(-1)
            logit = np.log(prob) - log_spike.reshape(-1)  # log(π / (1 − π)), finite where π rounds to 1
            shape = np.asarray(model.k(dist), np.float64).reshape(-1)
            scale = np.asarray(model.scale(dist), np.float64).reshape(-1)
            cells = bernoulli_gamma_prediction(prob, shape, scale, logit, lat[valid], lon[valid], **common)
        return cells_on_tile(cells, valid, tile)

    return predict_tile


# ---------------------------------------------------------------------------------------------- scores
def same_tasks(a: xr.Dataset, b: xr.Dataset) -> bool:
    """Two gridded prediction stores hold the same test fields with the same context and target cells."""
    names = ("is_context", "is_target", "tp_truth", "protocol", "time")
    return a.sizes == b.sizes and all(np.array_equal(a[n].values, b[n].values) for n in names)


def score(pred: xr.Dataset) -> xr.Dataset:
    """As ``pipelines/evaluate.py``: per-unit scores on the target cells (its own density family)."""
    return score_store(pred, InputSchema.from_dict(json.loads(pred.attrs["input_schema"])))


def kriging_store(args, config, ours: xr.Dataset, store_path: Path) -> tuple[xr.Dataset, str]:
    """The pipeline's kriging predictions on our test tasks (its store, or ``pipelines/baseline.py`` now)."""
    path = args.predictions_dir / "kriging.zarr"
    if (path / "zarr.json").exists():
        krig = xr.open_zarr(path, consolidated=False).load()
        if same_tasks(krig, ours):
            return krig, str(path)
        print(f"{path} holds other test tasks (split or config differ): recomputing kriging.", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="peer_kriging_"))
    cfg = config_to_dict(
        dataclasses.replace(config, data=dataclasses.replace(config.data, eval_split=args.split))
    )
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp / "kriging.zarr"
    cmd = [sys.executable, str(ROOT / "pipelines" / "baseline.py"), "--config", str(tmp / "config.yaml"),
           "--store", str(store_path), "--method", "kriging", "--out", str(out)]  # fmt: skip
    print("running", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    krig = xr.open_zarr(out, consolidated=False).load()
    if not same_tasks(krig, ours):
        raise RuntimeError("kriging computed by pipelines/baseline.py holds other test tasks than ours.")
    return krig, f"{out} (pipelines/baseline.py, this run)"


def describe(pred: xr.Dataset) -> str:
    """What made a prediction store: method, likelihood, features and target transform of its schema."""
    schema = InputSchema.from_dict(json.loads(pred.attrs["input_schema"]))
    return (
        f"{pred.attrs.get('method', '?')}, likelihood {pred.attrs.get('likelihood', '?')}, features "
        f"{list(schema.features)}, tp_transform {schema.normaliser.tp_transform}"
    )


def wins(scores: dict[str, xr.Dataset], groups: np.ndarray, method: str) -> dict[str, dict[str, int]]:
    """Per protocol: on how many tasks ``method`` has a lower fair CRPS than kriging."""
    a, b = scores[method]["crps_fair"].values, scores[REFERENCE]["crps_fair"].values
    return {g: {"better": int((a[groups == g] < b[groups == g]).sum()), "tasks": int((groups == g).sum())}
            for g in dict.fromkeys(groups.tolist())}  # fmt: skip


# ------------------------------------------------------------------------------------------------ main
def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "sample.yaml")
    p.add_argument("--store", type=Path, help="task store (default <data_dir>/<name>/tasks.zarr)")
    p.add_argument("--cpu-minutes", type=float, default=3.0, help="training budget in process CPU minutes")
    p.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        default="cnp",
        help="cnp: Gaussian on the store's target transform; bernoulli-gamma: needs a store built "
        "with data.tp_transform: scale (exact zeros)",
    )
    p.add_argument(
        "--split", choices=("test", "val"), help="test-task split (default: the config's eval_split)"
    )
    p.add_argument(
        "--covariates",
        nargs="*",
        help="gridded covariates as a second context set (no names: the store schema's covariates)",
    )
    p.add_argument(
        "--out", type=Path, help="prediction Zarr (default <results_dir>/<name>/predictions/deepsensor.zarr)"
    )
    p.add_argument(
        "--predictions-dir",
        type=Path,
        help="the pipeline's prediction stores (default <results_dir>/<name>/predictions)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "peer_deepsensor",
        help="writes RESULTS.json and RESULTS.md",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (the pipeline trains with 1)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam; chosen on the sample's val split")
    p.add_argument(
        "--unet-channels", type=int, nargs="+", default=[64, 64, 64, 64], help="DeepSensor's default"
    )
    p.add_argument("--seed", type=int, help="task-stream and weight seed (default: the config's train.seed)")
    p.add_argument("--max-steps", type=int, help="stop earlier (smoke runs)")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument(
        "--skip-kriging",
        action="store_true",
        help="score without kriging (e.g. comparing ConvNP settings on the val split, where the pipeline has "
        "no kriging store)",
    )
    p.add_argument(
        "--score-only",
        action="store_true",
        help="no training: rescore the store at --out (facts of its run from RESULTS.json) against "
        "the pipeline stores found now",
    )
    return p.parse_args(argv)


def make_inputs(args, config, taskset: Era5TaskSet) -> tuple[Inputs, int]:
    """The run's :class:`Inputs` (one tile edge per input unit) and the internal grid's points per unit."""
    data, schema = config.data, taskset.schema
    if args.likelihood == "bernoulli-gamma":  # DeepSensor's name for its Bernoulli–Gamma likelihood
        check_target_transform(get_likelihood("bernoulli_gamma"), schema.normaliser, schema.target)
    step = float(abs(np.diff(taskset.store["latitude"].values[:2])[0]))  # grid spacing (deg)
    cells = data.tile_size or taskset.store.sizes["latitude"]
    unit_deg, ppu = cells * step, int(cells)  # one tile edge per unit; one internal point per cell
    covariates = () if args.covariates is None else tuple(args.covariates or schema.covariates)
    return Inputs(taskset, unit_deg, covariates), ppu


def write_predictions(model, inputs: Inputs, tests: xr.Dataset, args, data, attrs, out: Path) -> float:
    """Predict the gridded test set ``tests`` and write it as the pipeline's prediction store at ``out``; the
    prediction's CPU seconds. The one place that lays out a ConvNP prediction store."""
    covariates = list(dict.fromkeys([*inputs.taskset.schema.covariates, *inputs.covariates]))
    cpu0 = time.process_time()
    store = predict_grid(tests, tile_predictor(model, inputs, args, data, attrs), covariates=covariates,
                         attrs=attrs)  # fmt: skip
    predict_cpu = time.process_time() - cpu0
    write_zarr_atomic(store, out)
    units = len(tile_units(tests))
    print(f"wrote {out} ({units} test units, {predict_cpu / units:.3f} CPU s per unit)", flush=True)
    return predict_cpu


def fit_and_predict(args, config, taskset: Era5TaskSet, store_path: Path, tests) -> dict[str, Any]:
    """Train the ConvNP, predict the test tasks, write the prediction store; the run's facts as a dict."""
    import torch

    data = config.data
    inputs, ppu = make_inputs(args, config, taskset)
    unit_deg, covariates = inputs.unit_deg, inputs.covariates

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, model_kwargs = build_convnp(args, ppu, len(covariates))
    parameters = int(sum(p.numel() for p in model.model.parameters()))
    print(f"ConvNP {model_kwargs}: {parameters:,} parameters", flush=True)
    training = train(model, inputs, train_tasks(taskset, config, args.seed), args)
    print(f"trained {training['steps']} steps in {training['cpu_minutes']:.2f} CPU minutes", flush=True)

    versions = {p: version(p) for p in ("deepsensor", "neuralprocesses", "torch", "numpy", "xarray")}
    attrs = {
        "method": "deepsensor_convnp", "attribution": taskset.store.attrs["attribution"],
        "note": f"DeepSensor {versions['deepsensor']} ConvNP (likelihood {args.likelihood}, covariates "
        f"{list(covariates)}), {training['steps']} steps in {training['cpu_minutes']:.2f} CPU minutes on "
        f"{args.threads} thread(s); benchmarks/peer_deepsensor.py",
    }  # fmt: skip
    predict_cpu = write_predictions(model, inputs, tests, args, data, attrs, args.out)
    return {
        "config": str(args.config), "store": str(store_path), "split": args.split,
        "likelihood": args.likelihood, "covariates": list(covariates), "threads": args.threads,
        "lr": args.lr, "seed": args.seed, "cpu_minutes_budget": args.cpu_minutes, "max_steps": args.max_steps,
        "input_unit_deg": unit_deg, "convnp": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in model_kwargs.items()},
        "parameters": parameters, "training": training,
        "predict_cpu_seconds_per_task": predict_cpu / len(tile_units(tests)),
        "num_test_tasks": len(tile_units(tests)),
        "peak_rss_mb": peak_rss_mb(), "versions": versions, "machine": machine(),
        "command": " ".join(sys.argv),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    warnings.filterwarnings("ignore", message="numpy.core is deprecated")  # lab's import of numpy.core
    config = load_config(args.config)
    data = config.data
    args.split = args.split or data.eval_split
    args.seed = config.train.seed if args.seed is None else args.seed
    base = Path(data.results_dir) / data.name
    store_path = args.store or Path(data.data_dir) / data.name / "tasks.zarr"
    args.out = args.out or base / "predictions" / f"{METHOD}.zarr"
    args.predictions_dir = args.predictions_dir or base / "predictions"
    results = args.results

    taskset = Era5TaskSet(open_task_store(store_path))
    protocols = EvalProtocols.from_config(data, taskset.store)
    tests = build_test_grid(taskset.store, taskset.schema, split=args.split, settings=protocols)
    if args.score_only:  # rescore an earlier run's store, e.g. once the pipeline's BNNP stores exist
        report = json.loads(results.with_suffix(".json").read_text())
        drop = ("sources", "stores", "summary", "summary_vs_learned")
        report = {k: v for k, v in report.items() if k not in drop}
        report["score_command"] = " ".join(sys.argv)
    else:
        import deepsensor.torch  # noqa: F401  (selects DeepSensor's torch backend)

        report = fit_and_predict(args, config, taskset, store_path, tests)
    ours = xr.open_zarr(args.out, consolidated=False).load()  # scored as evaluate reads it

    stores, sources = {METHOD: ours}, {METHOD: str(args.out)}
    if not args.skip_kriging:
        stores[REFERENCE], sources[REFERENCE] = kriging_store(args, config, ours, store_path)
    for name in PIPELINE_METHODS:
        path = args.predictions_dir / f"{name}.zarr"
        if name not in stores and (path / "zarr.json").exists():
            pred = xr.open_zarr(path, consolidated=False).load()
            if same_tasks(pred, ours):
                stores[name], sources[name] = pred, str(path)
            else:
                print(f"skipping {path}: other test tasks than ours", flush=True)
    scores = {m: score(p) for m, p in stores.items()}
    report["stores"] = {m: describe(p) for m, p in stores.items()}
    groups = scores[METHOD]["protocol"].drop_vars(["unit", "protocol"])
    reference = REFERENCE if REFERENCE in scores else METHOD
    summary = metrics.compare_methods(scores, groups, reference=reference, task_dim="unit")
    table = metrics.methods_markdown(summary)
    print("\n".join(table), flush=True)
    report["sources"] = sources
    report["summary"] = _plain(summary)
    won = wins(scores, np.asarray(groups.values), METHOD) if reference == REFERENCE else {}
    report["deepsensor_beats_kriging_crps"] = won
    vs_learned = []
    if "learned" in scores:  # the table pipelines/evaluate.py prints, with the ConvNP as one more method
        order = {m: scores[m] for m in ("learned", *[m for m in scores if m != "learned"])}
        by_learned = metrics.compare_methods(order, groups, reference="learned", task_dim="unit")
        report["summary_vs_learned"] = _plain(by_learned)
        vs_learned = ["", "Against the learned-prior BNNP (the reference of `pipelines/evaluate.py`):", "",
                      *metrics.methods_markdown(by_learned)]  # fmt: skip

    training = report["training"]
    lines = [
        f"### DeepSensor ConvNP vs the pipeline — `{data.name}`, {report['split']} split",
        "",
        f"DeepSensor {report['versions']['deepsensor']} ConvNP (likelihood `{report['likelihood']}`, "
        f"UNet {report['convnp']['unet_channels']}, {report['parameters']:,} parameters, covariates "
        f"{report['covariates'] or 'none'}), trained on the pipeline's training tasks for "
        f"{training['steps']} optimiser steps (one task each, lr {report['lr']}) in "
        f"{training['cpu_minutes']:.2f} CPU minutes on {report['threads']} thread(s) "
        f"({training['wall_minutes']:.1f} wall minutes on a shared, loaded machine); prediction "
        f"{report['predict_cpu_seconds_per_task'] * 1e3:.0f} CPU ms per task.",
        "",
        *table,
        "",
        f"Mean ± standard error over tasks; Δ = method − {reference}, paired over the same tasks (negative: "
        f"better than {reference}). PPD/NLL in the model's normalised units (not comparable across "
        "likelihoods).",
        "",
        "DeepSensor beats kriging in CRPS on "
        + ", ".join(f"{w['better']} of {w['tasks']} {g} tasks" for g, w in won.items())
        + "."
        if won
        else "Kriging not computed (--skip-kriging).",
        *vs_learned,
        *(
            ["", *report["notes"]] if report.get("notes") else []
        ),  # hand-kept notes of the JSON (e.g. selection)
        "",
        "Stores: " + "; ".join(f"{m}: `{sources[m]}` ({d})" for m, d in report["stores"].items()),
        "",
        f"Command: `{report['command']}`"
        + (f"; rescored with `{report['score_command']}`" if "score_command" in report else ""),
        "",
        str(taskset.store.attrs["attribution"]),
        "",
    ]
    write_json(results.with_suffix(".json"), report)
    atomic_write(results.with_suffix(".md"), lambda t: Path(t).write_text("\n".join(lines)))
    print(f"wrote {results.with_suffix('.json')} and .md", flush=True)
    return 0


def _plain(summary: xr.Dataset) -> dict[str, Any]:
    return {k: v.values.tolist() for k, v in summary.data_vars.items()} | {
        "model": list(summary["model"].values), "group": list(summary["group"].values)
    }  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
