"""Mixed precision (``train.dtype: mixed`` = float32 networks, float64 accumulation, posterior algebra and KL)
against float64 (issue 12): accuracy cost and CPU speed-up.

* **ELBO study, quick size** (:mod:`climate_bnnp.studies.elbo`, σ_y = 0.1): the study's BNNP meta-trained with
  the ELBO for ``meta_steps`` steps (``configs/studies/elbo_quick.yaml``) in each dtype and seed, then its
  ELBO on the study's dataset (``eval_samples`` draws, evaluated in float64: the cost of training in mixed
  precision).
* **Toy study, quick size** (:func:`climate_bnnp.studies.demo_toy.train_toy_model`'s setting: sawtooth,
  [32, 32], PP-AVI, 300 steps): the per-point joint posterior predictive density (PPD) on 64 fixed test
  tasks, each model evaluated in its own dtype (the whole mixed workflow), plus the float64-trained model
  evaluated in mixed precision (the inference cost alone). Differences are paired over the test tasks.
* **Speed**: median training-step time of every run above, and the paper-size step
  (:func:`gpu.training_step`: [64, 64, 64], S = 16, B = 5, N = 905) in both dtypes.

    python benchmarks/mixed_precision.py [--seeds 2] [--threads 1]

Writes ``benchmarks/results/mixed_precision.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, median, write_json  # noqa: E402
from gpu import training_step  # noqa: E402

from climate_bnnp.config import TrainConfig  # noqa: E402
from climate_bnnp.models import BNNP  # noqa: E402
from climate_bnnp.objectives import predictive_log_likelihood  # noqa: E402
from climate_bnnp.studies import elbo as elbo_study  # noqa: E402
from climate_bnnp.tasks import TaskSampler, family_source  # noqa: E402
from climate_bnnp.train import fit  # noqa: E402

DTYPES = ("float64", "mixed")
TOY_STEPS, TOY_TEST_TASKS, TOY_EVAL_SAMPLES = 300, 64, 64


def _mean_se(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def _median_step(records: list[dict]) -> float:
    return median([r["seconds"] for r in records[1:]])  # the first step warms up


def elbo_run(dtype: str, seed: int) -> dict:
    """Meta-train the ELBO study's BNNP (quick size, σ_y = 0.1) in ``dtype``; its float64 ELBO on the data."""
    size, noise = elbo_study.STUDY.size("quick"), elbo_study.DATA_NOISE
    model = elbo_study.build_bnnp(noise, seed=seed)
    source = family_source(
        "bnn",
        min_points=5,
        max_points=49,
        hidden=elbo_study.HIDDEN,
        noise=noise,
        x_range=(-4.0, 4.0),
        act="relu",
    )
    config = TrainConfig(
        objective="elbo", steps=size.meta_steps, batch_size=5, num_samples=size.train_samples, lr=size.lr,
        final_lr=size.final_lr, device="cpu", dtype=dtype, seed=seed, log_every=10**9, checkpoint_every=10**9,
    )  # fmt: skip
    records = fit(model, TaskSampler(source, context_fraction=(1.0, 1.0), seed=seed), config, progress=False)
    x, y = elbo_study.make_dataset()
    torch.manual_seed(seed)
    value, se = elbo_study.bnnp_elbo(model.double(), x, y, size.eval_samples)
    return {
        "dtype": dtype,
        "seed": seed,
        "elbo": value,
        "elbo_mc_se": se,
        "median_step_seconds": _median_step(records),
    }


def toy_train(dtype: str, seed: int) -> tuple[BNNP, float]:
    """The toy study's BNNP trained in ``dtype`` (as ``train_toy_model``); the model, its median step time."""
    torch.manual_seed(seed)
    model = BNNP(
        dim_x=1, dim_y=1, hidden_dims=(32, 32), inf_hidden_dims=(32, 32), noise_init=0.05, noise_bound=0.3
    )
    sampler = TaskSampler(
        family_source("sawtooth", min_points=40, max_points=99), context_fraction=(0.1, 0.5), seed=seed
    )
    config = TrainConfig(steps=TOY_STEPS, batch_size=8, num_samples=8, lr=3e-3, final_lr=1e-4, device="cpu",
                         dtype=dtype, seed=seed, log_every=10**9, checkpoint_every=10**9)  # fmt: skip
    records = fit(model, sampler, config, progress=False)
    return model.eval(), _median_step(records)


@torch.no_grad()
def toy_ppd(model: BNNP, dtype: str, batch, seed: int = 0) -> np.ndarray:
    """Per-point joint PPD ``log 1/S Σ_s exp(Σ_t log p(y_t | W_s)) / N_t`` of each test task, in ``dtype``."""
    torch_dtype = getattr(torch, TrainConfig(dtype=dtype).dtype)
    model = copy.deepcopy(model).to(torch_dtype)
    b = batch.to(dtype=torch_dtype)
    torch.manual_seed(seed)
    out = model(b.xc, b.yc, b.xt, mask_c=b.mask_c, mask_t=b.mask_t, num_samples=TOY_EVAL_SAMPLES)
    log_lik = model.likelihood.log_prob(b.yt, out.ft).double()  # (S, B, Nt)
    mask = torch.ones(log_lik.shape[1:], dtype=torch.float64) if b.mask_t is None else b.mask_t.double()
    ppd = predictive_log_likelihood((log_lik * mask).sum(-1)) / mask.sum(-1)  # (B,)
    return ppd.numpy()


def _markdown(result: dict) -> str:
    e, t, s = result["elbo_study"], result["toy_study"], result["paper_step"]
    lines = [
        "# Mixed precision vs float64 (CPU)",
        "",
        f"`train.dtype: mixed` (= float32): float32 networks, decoder and likelihood; float64 accumulation, "
        f"posterior algebra and KL. Machine: {result['machine']['cpu']}, {result['threads']} torch "
        f"thread(s), load average {result['load_average'][0]:.1f} at the start (a shared machine: step times "
        "are noisy). "
        "Script: `benchmarks/mixed_precision.py`.",
        "",
        "| measurement | float64 | mixed | mixed − float64 |",
        "|---|---|---|---|",
        f"| ELBO study quick (σ_y = 0.1, {e['meta_steps']} meta-steps, {len(e['runs']) // 2} seeds): ELBO | "
        f"{e['float64'][0]:.3f} ± {e['float64'][1]:.3f} | {e['mixed'][0]:.3f} ± {e['mixed'][1]:.3f} | "
        f"{e['difference'][0]:+.3f} ± {e['difference'][1]:.3f} (paired over seeds) |",
        f"| toy study quick (sawtooth, {TOY_STEPS} steps, {t['seeds']} seeds, {TOY_TEST_TASKS} test tasks): "
        f"PPD per point | {t['float64'][0]:.4f} ± {t['float64'][1]:.4f} | {t['mixed'][0]:.4f} ± "
        f"{t['mixed'][1]:.4f} | {t['difference'][0]:+.4f} ± {t['difference'][1]:.4f} (paired over tasks) |",
        f"| toy: float64-trained model evaluated in mixed (inference only): PPD per point | | | "
        f"{t['inference_only_difference'][0]:+.2e} ± {t['inference_only_difference'][1]:.1e} |",
        f"| ELBO study training step (s, median) | {e['step_seconds']['float64']:.4f} | "
        f"{e['step_seconds']['mixed']:.4f} | "
        f"speed-up ×{e['step_seconds']['float64'] / e['step_seconds']['mixed']:.2f} |",
        f"| toy training step (s, median) | {t['step_seconds']['float64']:.4f} | "
        f"{t['step_seconds']['mixed']:.4f} "
        f"| speed-up ×{t['step_seconds']['float64'] / t['step_seconds']['mixed']:.2f} |",
        f"| paper-size step ([64, 64, 64], S = 16, B = 5, N = 905; s, median) | "
        f"{s['float64']['median_step_seconds']:.3f} | {s['mixed']['median_step_seconds']:.3f} | "
        f"speed-up ×{s['float64']['median_step_seconds'] / s['mixed']['median_step_seconds']:.2f} |",
        "",
        "± is one standard error (over seeds for the ELBO, over test tasks for the PPD; the ELBO's own "
        "Monte-Carlo error per run is in the JSON). GPU: not measured here (no CUDA device); "
        "`benchmarks/gpu.py` measures the paper-size step in both dtypes on a GPU.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "mixed_precision.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict = {"machine": machine(), "threads": args.threads, "load_average": os.getloadavg()}
    tick = time.perf_counter()
    runs = [elbo_run(dtype, seed) for seed in range(args.seeds) for dtype in DTYPES]  # alternating dtypes
    by = {d: [r for r in runs if r["dtype"] == d] for d in DTYPES}
    result["elbo_study"] = {
        "meta_steps": elbo_study.STUDY.size("quick").meta_steps, "runs": runs,
        **{d: _mean_se([r["elbo"] for r in by[d]]) for d in DTYPES},
        "difference": _mean_se([m["elbo"] - f["elbo"] for f, m in zip(*by.values(), strict=True)]),
        "step_seconds": {d: median([r["median_step_seconds"] for r in by[d]]) for d in DTYPES},
    }  # fmt: skip
    print("ELBO study:", {k: v for k, v in result["elbo_study"].items() if k != "runs"}, flush=True)
    test = TaskSampler(
        family_source("sawtooth", min_points=40, max_points=99), context_fraction=(0.1, 0.5), seed=10_000
    ).sample(TOY_TEST_TASKS)
    ppd = {d: [] for d in DTYPES}
    inference_only, steps = [], {d: [] for d in DTYPES}
    for seed in range(args.seeds):
        for dtype in DTYPES:
            model, step = toy_train(dtype, seed)
            steps[dtype].append(step)
            ppd[dtype].append(toy_ppd(model, dtype, test))
            if dtype == "float64":
                inference_only.append(toy_ppd(model, "mixed", test) - ppd[dtype][-1])
    result["toy_study"] = {
        "seeds": args.seeds, "test_tasks": TOY_TEST_TASKS, "eval_samples": TOY_EVAL_SAMPLES,
        **{d: _mean_se(np.mean(ppd[d], axis=0)) for d in DTYPES},
        "difference": _mean_se(np.mean(np.subtract(ppd["mixed"], ppd["float64"]), axis=0)),
        "inference_only_difference": _mean_se(np.mean(inference_only, axis=0)),
        "step_seconds": {d: median(steps[d]) for d in DTYPES},
        "ppd_per_seed": {d: [float(np.mean(p)) for p in ppd[d]] for d in DTYPES},
    }  # fmt: skip
    print("toy study:", {k: v for k, v in result["toy_study"].items()}, flush=True)
    result["paper_step"] = {d: training_step(torch.device("cpu"), d, steps=2) for d in DTYPES}
    print("paper step:", {d: r["median_step_seconds"] for d, r in result["paper_step"].items()}, flush=True)
    result["total_seconds"] = time.perf_counter() - tick
    write_json(args.out, result)
    args.out.with_suffix(".md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
