"""Learned vs standard prior for the BNNP on 1-D GP and sawtooth tasks.

The BNNP rows of the paper's table; results and discussion: docs/results/prior_transfer.md.

Two BNNPs per family are meta-trained with PP-AVI: one with a fully learned prior (ρ = 1) and one with the
fixed standard prior ``N(0, 1/(d_in + 1))`` (ρ = 0; inference networks and σ_y still meta-learned). BNN
[48, 48] (GP: SiLU, sawtooth: ReLU), inference nets [48, 48], full unit-wise prior, σ_y learned with
bound 0.5.
Training tasks have ``N ∈ [40, 100)`` points and context proportion ``U(0.1, 0.9)``; GP: SE kernel, ℓ = 0.5,
noise 0.05, ``x ∈ [−5, 5]``.

Test set (seed 69): 16 tasks of exactly 50 points (GP on ``[−4, 4]``, sawtooth on ``[−2, 2]``), context
proportion ``U(0.05, 0.5)``. Metrics per task with 1,000 posterior samples (:mod:`climate_bnnp.metrics`):
PPD (log of the mean predictive density over samples and target points, with the learned σ_y) and MAE of
the predictive mean; mean ± standard error over tasks. On the GP family the exact GP posterior predictive
(the data-generating process) is the ceiling.

    climate-bnnp study prior_transfer [--quick] --out results/studies
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig
from ..metrics import mae, ppd, summarise
from ..models import BNNP
from ..tasks import TaskSampler, exact_gp_predictive, family_source, split_context_target
from ..tasks.toy import gp, heaviside, sawtooth
from ..train import fit
from .driver import Study, write_results
from .driver import main as driver_main

__all__ = [
    "TransferSize",
    "STUDY",
    "FAMILY_SETTINGS",
    "test_tasks",
    "build_model",
    "train_model",
    "evaluate_model",
    "exact_gp_scores",
    "evaluate_exact_gp",
    "paired_ppd",
    "paired_difference",
    "run",
]

HIDDEN = (48, 48)
GP_OPTIONS = {"lengthscale": 0.5, "noise": 0.05}
FAMILY_SETTINGS = {
    "gp": {"activation": "silu", "final_lr": 1e-4, "train": {"x_range": (-5.0, 5.0), **GP_OPTIONS}},
    "sawtooth": {"activation": "relu", "final_lr": 1e-5, "train": {}},
    "heaviside": {"activation": "tanh", "final_lr": 1e-5, "train": {}},
}
# The test sets' draws: 50 points each, GP and heaviside on [−4, 4], sawtooth on its own [−2, 2].
TEST_GENERATORS = {
    "gp": lambda rng: gp(rng, 50, x_range=(-4.0, 4.0), **GP_OPTIONS),
    "sawtooth": lambda rng: sawtooth(rng, 50),
    "heaviside": lambda rng: heaviside(rng, 50, x_range=(-4.0, 4.0)),
}
# Reference snapshot (the paper's table; docs/results/prior_transfer.md): BNNP (PPD, PPD s.e., MAE) with
# the learned prior, 50k steps, S = 32.
REFERENCE = {"gp": (0.459, 0.088, 0.316), "sawtooth": (0.950, 0.038, 0.068)}


@dataclass(frozen=True, kw_only=True)
class TransferSize:
    """How big a run is (``configs/studies/prior_transfer_*.yaml``): optimiser steps, MC samples per training
    step (S), evaluation samples, families, test tasks and the learning rate."""

    steps: int
    num_samples: int
    eval_samples: int
    families: tuple[str, ...]
    num_test_tasks: int
    lr: float


def test_tasks(family: str, num_tasks: int = 16, *, seed: int = 69):
    """The shared test set: ``num_tasks`` tasks of 50 points (:data:`TEST_GENERATORS`), split with context
    proportion U(0.05, 0.5).

    Returns:
        A list of ``(xc (Nc, 1), yc (Nc, 1), xt (Nt, 1), yt (Nt, 1))``.
    """
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(num_tasks):
        x, y = TEST_GENERATORS[family](rng)
        tasks.append(split_context_target(x, y, rng, context_fraction=(0.05, 0.5)))
    return tasks


def build_model(family: str, prior_fraction: float, *, seed: int = 0) -> BNNP:
    """BNN [48, 48] (family's activation), inference nets [48, 48], full prior, ρ = ``prior_fraction``."""
    torch.manual_seed(seed)
    return BNNP(
        dim_x=1,
        dim_y=1,
        hidden_dims=HIDDEN,
        inf_hidden_dims=HIDDEN,
        activation=FAMILY_SETTINGS[family]["activation"],
        prior_type="full",
        prior_learnable_fraction=prior_fraction,
        noise_init=0.05,
        noise_bound=0.5,
    ).to(torch.float64)


def train_model(
    family: str, prior_fraction: float, size: TransferSize, *, checkpoint: Path | None = None, seed: int = 0
) -> BNNP:
    """Meta-train with PP-AVI on fresh tasks (N ∈ [40, 100), context U(0.1, 0.9)); resumes from checkpoint."""
    settings = FAMILY_SETTINGS[family]
    model = build_model(family, prior_fraction, seed=seed)
    source = family_source(family, min_points=40, max_points=99, **settings["train"])
    sampler = TaskSampler(source, context_fraction=(0.1, 0.9), seed=seed)
    config = TrainConfig(
        objective="pp_avi",
        steps=size.steps,
        batch_size=5,
        num_samples=size.num_samples,
        lr=size.lr,
        final_lr=settings["final_lr"],
        device="cpu",
        seed=seed,
        checkpoint_every=max(size.steps // 20, 1),
    )
    log_path = None if checkpoint is None else Path(checkpoint).with_suffix(".jsonl")
    fit(model, sampler, config, checkpoint_path=checkpoint, log_path=log_path, progress=False)
    return model


@torch.no_grad()
def evaluate_model(model: BNNP, tasks, num_samples: int) -> dict[str, float]:
    """PPD and MAE per test task (mean ± s.e. over tasks), with the model's learned σ_y."""
    model.eval()
    sigma = float(model.noise_std()[0])
    ppds, maes = [], []
    for xc, yc, xt, yt in tasks:
        as_batch = lambda a: torch.as_tensor(a, dtype=torch.float64)[None]  # noqa: E731  (1, N, 1)
        out = model(as_batch(xc), as_batch(yc), as_batch(xt), num_samples=num_samples)
        f = out.ft[:, 0, :, 0].numpy()  # (S, Nt)
        ppds.append(ppd(yt[:, 0], f, sigma))
        maes.append(mae(yt[:, 0], f.mean(0)))
    return _summary(ppds, maes) | {"noise_std": sigma}


def exact_gp_scores(tasks) -> tuple[list[float], list[float]]:
    """PPD and MAE per task of the exact GP posterior predictive (ℓ = 0.5, noise 0.05): the GP ceiling."""
    ppds, maes = [], []
    for xc, yc, xt, yt in tasks:
        mean, var = exact_gp_predictive(xc, yc, xt, **GP_OPTIONS)
        ppds.append(float(ppd(yt[:, 0], mean[None], np.sqrt(var)[None])))  # one "sample": the Gaussian
        maes.append(float(mae(yt[:, 0], mean)))
    return ppds, maes


def evaluate_exact_gp(tasks) -> dict[str, float]:
    """:func:`exact_gp_scores`, mean ± s.e. over tasks."""
    return _summary(*exact_gp_scores(tasks))


def _summary(ppds: list[float], maes: list[float]) -> dict[str, float]:
    ppd_mean, ppd_se = summarise(np.asarray(ppds))
    mae_mean, mae_se = summarise(np.asarray(maes))
    return {"ppd": ppd_mean, "ppd_se": ppd_se, "mae": mae_mean, "mae_se": mae_se, "ppd_per_task": list(ppds)}


def paired_ppd(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """PPD per task ``a`` minus ``b`` (the same tasks): mean, s.e. and the tasks where ``a`` wins."""
    diff = np.asarray(a) - np.asarray(b)
    mean, se = summarise(diff)
    return {"mean": mean, "se": se, "wins": int((diff > 0).sum()), "tasks": len(diff)}


def paired_difference(a: dict, b: dict) -> dict[str, float]:
    """:func:`paired_ppd` of two :func:`evaluate_model` results, as ``ppd_diff ± ppd_diff_se``."""
    paired = paired_ppd(a["ppd_per_task"], b["ppd_per_task"])
    return {
        "ppd_diff": paired["mean"],
        "ppd_diff_se": paired["se"],
        "wins": paired["wins"],
        "tasks": paired["tasks"],
    }


def _markdown(results: dict, paired: dict, size: TransferSize, seconds: float) -> str:
    lines = [
        "# Prior transfer: learned vs standard prior for the BNNP",
        "",
        f"Meta-training: PP-AVI, {size.steps} steps, S = {size.num_samples}, B = 5 "
        "(reference: 50k steps, S = 32). "
        f"Evaluation: {size.num_test_tasks} test tasks of 50 points, context U(0.05, 0.5), "
        f"{size.eval_samples} posterior samples; mean ± s.e. over tasks. PPD in y units (↑), MAE (↓). "
        f"Wall time {seconds / 60:.1f} min.",
        "",
        "| family | method | PPD | MAE | σ_y | reference (learned prior, 50k steps) |",
        "|---|---|---|---|---|---|",
    ]
    for family, rows in results.items():
        ref = REFERENCE[family]
        for method, r in rows.items():
            note = (
                f"PPD {ref[0]:.3f} ± {ref[1]:.3f}, MAE {ref[2]:.3f}"
                if method == "BNNP, learned prior"
                else ""
            )
            sigma = f"{r['noise_std']:.3f}" if "noise_std" in r else "0.050 (true)"
            lines.append(
                f"| {family} | {method} | {r['ppd']:.3f} ± {r['ppd_se']:.3f} | "
                f"{r['mae']:.3f} ± {r['mae_se']:.3f} | {sigma} | {note} |"
            )
    lines.append("")
    for family, d in paired.items():
        lines.append(
            f"{family}: learned − standard prior, paired over the same test tasks: PPD "
            f"{d['ppd_diff']:+.3f} ± {d['ppd_diff_se']:.3f} "
            f"(learned better on {d['wins']}/{d['tasks']} tasks)."
        )
    return "\n".join(lines) + "\n"


def run(
    size: TransferSize,
    out: Path | None = None,
    *,
    checkpoint_dir: Path | None = None,
    seed: int = 0,
    name: str = "prior_transfer",
    log=print,
) -> dict:
    """Train and evaluate both priors on each family; write ``out/<name>.{json,md}``; return the results."""
    tick = time.perf_counter()
    results: dict[str, dict] = {}
    paired: dict[str, dict] = {}
    for family in size.families:
        tasks = test_tasks(family, size.num_test_tasks)
        rows = {}
        for label, fraction in (("BNNP, learned prior", 1.0), ("BNNP, standard prior", 0.0)):
            ckpt = (
                None if checkpoint_dir is None else checkpoint_dir / f"transfer_{family}_rho{fraction:g}.pt"
            )
            model = train_model(family, fraction, size, checkpoint=ckpt, seed=seed)
            rows[label] = evaluate_model(model, tasks, size.eval_samples)
            log(
                f"{family:9s} {label:22s} PPD {rows[label]['ppd']:7.3f} ± {rows[label]['ppd_se']:.3f}  "
                f"MAE {rows[label]['mae']:.3f}  σ_y {rows[label]['noise_std']:.3f}  "
                f"[{time.perf_counter() - tick:.0f} s]"
            )
        paired[family] = paired_difference(rows["BNNP, learned prior"], rows["BNNP, standard prior"])
        diff = paired[family]
        log(f"{family:9s} paired PPD difference {diff['ppd_diff']:+.3f} ± {diff['ppd_diff_se']:.3f}")
        if family == "gp":
            rows["exact GP (ceiling)"] = evaluate_exact_gp(tasks)
        results[family] = rows
    seconds = time.perf_counter() - tick
    data = {
        "size": asdict(size),
        "results": results,
        "paired_learned_minus_standard": paired,
        "seconds": seconds,
        "reference_bnnp_learned": {
            k: dict(zip(("ppd", "ppd_se", "mae"), v, strict=True)) for k, v in REFERENCE.items()
        },
    }
    if out is not None:
        write_results(Path(out), name, data, _markdown(results, paired, size, seconds))
    return data


STUDY = Study(name="prior_transfer", size_type=TransferSize, run=run, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(driver_main(STUDY))
