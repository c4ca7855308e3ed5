"""The "no free lunch" table: does a good prior remove the need for good inference?

Results and discussion: docs/results/no_free_lunch.md.

Per family (GP with SiLU, sawtooth with ReLU, heaviside with tanh) one BNNP [48, 48] with a fully learned
prior is meta-trained with PP-AVI (:func:`climate_bnnp.studies.prior_transfer.train_model`). On the shared
test sets (16 tasks of 50 points, context U(0.05, 0.5)) every inference method runs on the same BNN with

* the **standard** prior ``N(0, 1/(d_in + 1))`` per weight and σ_y = 0.05 (the paper's value), and
* the BNNP's **learned** unit-wise full-covariance prior and σ_y, adopted **by value**
  (:meth:`~climate_bnnp.inference.WeightPrior.from_model`, σ_y as a number: not the paper's raw
  parameter, whose reinterpretation as ``log σ`` broke its heaviside row, spec §7.3).

Methods, each fitted on a task's context only: the meta-trained BNNP (amortised, learned prior only), a
fresh single-task BNNP fitted by its ELBO, MFVI, GIVI (inducing points at the context inputs), SWAG and HMC
(full batch, Metropolis-corrected); on the GP family the exact GP posterior is the ceiling. The fits of the
16 tasks run as one batch of independent problems (no shared parameter, elementwise Adam), which is what
makes the table affordable on a CPU. Metrics: PPD (with the method's σ_y) and MAE of the predictive mean,
mean ± s.e. over tasks, and paired differences to the BNNP.

Every (family, prior, method) cell is cached as JSON under ``out/<name>_cells/``, so runs resume and the
standard-prior cells can run while the meta-training does.

    climate-bnnp study no_free_lunch [--quick] [--set families=[gp]] [--priors standard learned] \\
        [--no-train] [--figure curves.png] --checkpoints results/studies/nfl_ckpt --out results/studies
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import read_checkpoint_state
from ..inference import (
    WeightPrior,
    build_givi,
    fit_mfvi,
    fit_swag,
    maximise_elbo,
    run_hmc,
    taskwise_inference_nets,
)
from ..metrics import mae, ppd, summarise
from ..models import BNNP
from ..tasks import Batch, collate
from ..train.resume import resume_path_for
from .driver import Study, cached_json, check_runs_size, write_results
from .driver import main as driver_main
from .prior_transfer import (
    FAMILY_SETTINGS,
    GP_OPTIONS,
    HIDDEN,
    TransferSize,
    build_model,
    exact_gp_scores,
    paired_ppd,
    test_tasks,
    train_model,
)
from .prior_transfer import STUDY as TRANSFER

__all__ = [
    "TableSize",
    "TableSize",
    "STUDY",
    "FAMILIES",
    "METHODS",
    "assign_prior",
    "meta_trained",
    "load_meta_trained",
    "evaluate_cell",
    "learning_curves_figure",
    "run",
]

FAMILIES = ("gp", "sawtooth", "heaviside")
PRIORS = ("standard", "learned")
# method -> (file slug, row of the paper's table, priors that row reports)
METHODS = {
    "BNNP (amortised)": ("bnnp_amortised", "BNNP", ("learned",)),
    "BNNP (single-task ELBO)": ("bnnp_single", "BNNP", ("standard",)),
    "MFVI": ("mfvi", "MFVI", PRIORS),
    "GIVI": ("givi", "GIVI", PRIORS),
    "SWAG": ("swag", "SWAG", PRIORS),
    "HMC": ("hmc", "HMC", PRIORS),
}
STANDARD_NOISE = 0.05
# The paper's snapshot (docs/results/no_free_lunch.md): (PPD standard, PPD learned, MAE standard,
# MAE learned); its "BNNP" row
# is the amortised BNNP with the learned prior and a single-task BNNP with the standard one.
REFERENCE = {
    "gp": {
        "SWAG": (-0.110, 0.236, 0.457, 0.328), "MFVI": (-0.626, -0.216, 0.629, 0.350),
        "GIVI": (-0.003, -0.207, 0.498, 0.395), "BNNP": (0.019, 0.459, 0.497, 0.316),
        "HMC": (-0.705, -1.010, 0.668, 0.851),
    },
    "sawtooth": {
        "SWAG": (0.050, 0.230, 0.293, 0.152), "MFVI": (-0.078, 0.118, 0.272, 0.105),
        "GIVI": (0.018, 0.242, 0.294, 0.103), "BNNP": (0.016, 0.950, 0.292, 0.068),
        "HMC": (0.059, -0.164, 0.256, 0.320),
    },
    "heaviside": {
        "SWAG": (0.293, -1.505, 0.340, 0.485), "MFVI": (-0.541, -1.602, 0.489, 0.685),
        "GIVI": (0.261, -1.595, 0.408, 0.672), "BNNP": (0.542, -0.036, 0.335, 0.352),
        "HMC": (-0.550, -1.723, 0.474, 1.057),
    },
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class TableSize:
    """How big a run is (``configs/studies/no_free_lunch_*.yaml``, the paper's budgets in its comments):
    meta-training, per-task fitting and sampling budgets, families and test tasks."""

    meta_steps: int
    meta_samples: int
    fit_steps: int  # single-task BNNP and GIVI ELBO steps
    fit_samples: int
    mfvi_steps: int
    swag_pretrain: int
    swag_steps: int
    hmc_burn: int
    hmc_thin: int
    hmc_leapfrog: int
    hmc_samples: int
    eval_samples: int
    fit_lr: float
    fit_final_lr: float
    families: tuple[str, ...]
    num_test_tasks: int


def _meta_size(size: TableSize) -> TransferSize:
    """The prior-transfer study's learned-prior training (its full size) at this table's budget."""
    return replace(TRANSFER.size("full"), steps=size.meta_steps, num_samples=size.meta_samples)


def meta_trained(
    family: str, size: TableSize, checkpoint_dir: Path | None, *, train: bool = True, seed: int = 0
) -> tuple[BNNP, int]:
    """The learned-prior BNNP of ``family`` and its number of optimiser steps.

    With ``train`` it is meta-trained (resuming from ``checkpoint_dir``) to ``size.meta_steps``; without, the
    latest saved state is used however far it got (:func:`load_meta_trained`).
    """
    if train or checkpoint_dir is None:
        path = None if checkpoint_dir is None else Path(checkpoint_dir) / f"transfer_{family}_rho1.pt"
        return train_model(family, 1.0, _meta_size(size), checkpoint=path, seed=seed).eval(), size.meta_steps
    return load_meta_trained(family, checkpoint_dir, seed=seed)


def load_meta_trained(family: str, checkpoint_dir: Path, *, seed: int = 0) -> tuple[BNNP, int]:
    """The latest saved learned-prior BNNP of ``family`` in ``checkpoint_dir`` (the final checkpoint, else the
    periodic resume file of a run still going) and its number of optimiser steps."""
    path = Path(checkpoint_dir) / f"transfer_{family}_rho1.pt"
    for candidate in (path, resume_path_for(path)):
        if candidate.is_file():
            state = read_checkpoint_state(candidate)
            model = build_model(family, 1.0, seed=seed)
            model.load_state_dict(state["model_state"])
            return model.eval(), int(state["step"])
    raise FileNotFoundError(
        f"no meta-training state for {family} at {path}; train it first (no_free_lunch without --no-train)."
    )


def assign_prior(model: BNNP, prior: WeightPrior) -> BNNP:
    """Set ``model``'s (full, unit-wise) layer priors to ``prior`` by value and freeze them (ρ = 0)."""
    for layer, mean, scale_tril in zip(model.layers, prior.means, prior.scale_trils, strict=True):
        root = layer.prior.fan_in**0.5  # the prior stores L √D (the fan-in-scaled prior of docs/method.md)
        with torch.no_grad():
            layer.prior.mean.copy_(mean)
            layer.prior.log_scale.copy_(torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1) * root))
            layer.prior.offdiag.copy_(scale_tril.tril(-1) * root)
        layer.prior.set_weight_mask(torch.zeros_like(layer.prior.weight_mask))
    return model


def _fixed_noise_bnnp(family: str, noise: float, *, seed: int) -> BNNP:
    torch.manual_seed(seed)
    return BNNP(
        dim_x=1, dim_y=1, hidden_dims=HIDDEN, inf_hidden_dims=HIDDEN,
        activation=FAMILY_SETTINGS[family]["activation"], prior_type="full", prior_learnable_fraction=0.0,
        noise_init=noise, learn_noise=False,
    ).to(torch.float64)  # fmt: skip


@torch.no_grad()
def _bnnp_samples(model: BNNP, batch: Batch, num_samples: int, chunk: int = 100) -> np.ndarray:
    """Posterior function samples ``(S, T, Nt)`` at the targets, drawn ``chunk`` at a time (memory)."""
    model.eval()
    draws = []
    for start in range(0, num_samples, chunk):
        out = model(
            batch.xc, batch.yc, batch.xt, mask_c=batch.mask_c, mask_t=batch.mask_t,
            num_samples=min(chunk, num_samples - start),
        )  # fmt: skip
        draws.append(out.ft[..., 0])
    return torch.cat(draws).numpy()


def _fit_bnnp_type(model: BNNP, batch: Batch, size: TableSize) -> np.ndarray:
    """Fit ``model`` by the ELBO of each task's context (one batch of independent fits); its samples."""
    context = Batch(batch.xc, batch.yc, batch.xc, batch.yc, batch.mask_c, batch.mask_c)
    maximise_elbo(
        model, context, steps=size.fit_steps, lr=size.fit_lr, final_lr=size.fit_final_lr,
        num_samples=size.fit_samples,
    )  # fmt: skip
    return _bnnp_samples(model, batch, size.eval_samples)


def _method_samples(
    method: str, family: str, prior: WeightPrior, noise: float, batch: Batch, size: TableSize, seed: int,
    amortised: BNNP | None,
) -> np.ndarray:  # fmt: skip
    """Function samples ``(S, T, Nt)`` of one method at the test targets."""
    torch.manual_seed(seed)
    tasks = batch.xc.shape[0]
    if method == "BNNP (amortised)":
        return _bnnp_samples(amortised, batch, size.eval_samples)
    if method == "BNNP (single-task ELBO)":
        model = taskwise_inference_nets(_fixed_noise_bnnp(family, noise, seed=seed), tasks, seed=seed)
        return _fit_bnnp_type(assign_prior(model, prior), batch, size)
    if method == "GIVI":
        model = build_givi(
            batch.xc.shape[1], 1, HIDDEN, activation=FAMILY_SETTINGS[family]["activation"], noise_init=noise,
            learn_noise=False, num_tasks=tasks, seed=seed,
        )  # fmt: skip
        return _fit_bnnp_type(assign_prior(model, prior), batch, size)
    data = (batch.xc, batch.yc[..., 0], _mask(batch.mask_c, batch.xc), noise)
    if method == "MFVI":
        fitted = fit_mfvi(
            prior, *data, steps=size.mfvi_steps, lr=size.fit_lr, final_lr=size.fit_final_lr,
            num_samples=size.fit_samples, seed=seed,
        )  # fmt: skip
        draws = size.eval_samples
    elif method == "SWAG":
        fitted = fit_swag(
            prior, *data, pretrain_steps=size.swag_pretrain, pretrain_lr=size.fit_lr,
            swa_steps=size.swag_steps, swa_lr=1e-2, collect_every=1, rank=min(64, size.swag_steps), seed=seed,
        )  # fmt: skip
        draws = size.eval_samples
    elif method == "HMC":
        fitted = run_hmc(
            prior, *data, num_samples=size.hmc_samples, burn=size.hmc_burn, thin=size.hmc_thin,
            leapfrog=size.hmc_leapfrog, step_size=1e-3, seed=seed,
        )  # fmt: skip
        draws = size.hmc_samples
    else:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}.")
    generator = torch.Generator().manual_seed(seed)
    return fitted.sample_functions(batch.xt, draws, generator=generator).detach().numpy()


def _mask(mask, x) -> torch.Tensor:
    return torch.ones(x.shape[:2], dtype=torch.bool) if mask is None else mask


def _scores(samples: np.ndarray, batch: Batch, noise: float) -> dict[str, list[float]]:
    """PPD and MAE per task from samples ``(S, T, Nt)`` (only each task's real targets)."""
    yt, valid = batch.yt[..., 0].numpy(), _mask(batch.mask_t, batch.xt).numpy()
    ppds = [float(ppd(yt[t, valid[t]], samples[:, t, valid[t]], noise)) for t in range(len(yt))]
    maes = [float(mae(yt[t, valid[t]], samples[:, t, valid[t]].mean(0))) for t in range(len(yt))]
    return {"ppd": ppds, "mae": maes}


def evaluate_cell(
    family: str, prior_kind: str, method: str, size: TableSize, *, amortised: BNNP | None, seed: int = 0
) -> dict:
    """Per-task PPD and MAE of one method under one prior on ``family``'s test set, with σ_y and seconds."""
    tick = time.perf_counter()
    batch = collate(test_tasks(family, size.num_test_tasks))
    if prior_kind == "learned":
        prior, noise = WeightPrior.from_model(amortised), float(amortised.noise_std()[0].detach())
    else:
        dims = [1, *HIDDEN, 1]
        prior, noise = WeightPrior.standard(dims, FAMILY_SETTINGS[family]["activation"]), STANDARD_NOISE
    samples = _method_samples(method, family, prior, noise, batch, size, seed, amortised)
    return _scores(samples, batch, noise) | {"noise_std": noise, "seconds": time.perf_counter() - tick}


def _exact_gp(size: TableSize) -> dict:
    ppds, maes = exact_gp_scores(test_tasks("gp", size.num_test_tasks))
    return {"ppd": ppds, "mae": maes, "noise_std": GP_OPTIONS["noise"]}


def _summary(by_prior: dict, bnnp: dict | None) -> dict:
    """Mean ± s.e. over tasks per prior, the paired learned − standard PPD, and the paired PPD minus the
    amortised BNNP's (``bnnp``) under the learned prior."""
    out: dict = {}
    for kind, cell in by_prior.items():
        ppd_mean, ppd_se = summarise(np.asarray(cell["ppd"]))
        mae_mean, mae_se = summarise(np.asarray(cell["mae"]))
        out[kind] = {"ppd": ppd_mean, "ppd_se": ppd_se, "mae": mae_mean, "mae_se": mae_se}
    if {"standard", "learned"} <= by_prior.keys():
        out["learned_minus_standard"] = paired_ppd(by_prior["learned"]["ppd"], by_prior["standard"]["ppd"])
    if bnnp is not None and "learned" in by_prior and by_prior["learned"] is not bnnp:
        out["learned_minus_bnnp"] = paired_ppd(by_prior["learned"]["ppd"], bnnp["ppd"])
    return out


def _cell(summary: dict | None, key: str) -> str:
    return "—" if summary is None else f"{summary[key]:.3f} ± {summary[key + '_se']:.3f}"


def _difference(paired: dict | None) -> str:
    if paired is None:
        return "—"
    return f"{paired['mean']:+.3f} ± {paired['se']:.3f} ({paired['wins']}/{paired['tasks']})"


def _reference(family: str, method: str) -> str:
    """The paper's PPD and MAE (standard / learned prior) for the methods it reports: two table cells."""
    if method not in METHODS:
        return " | "
    _, row, kinds = METHODS[method]
    ppd_std, ppd_learned, mae_std, mae_learned = REFERENCE[family][row]
    pick = lambda std, learned: " / ".join(  # noqa: E731
        f"{v:.3f}" if kind in kinds else "—" for v, kind in ((std, "standard"), (learned, "learned"))
    )
    return f"{pick(ppd_std, ppd_learned)} | {pick(mae_std, mae_learned)}"


def _markdown(summary: dict, size: TableSize, meta_steps: dict[str, int], seconds: float) -> str:
    lines = [
        "# No free lunch: inference methods × priors",
        "",
        f"Meta-training per family: PP-AVI, S = {size.meta_samples}, B = 5, "
        + (", ".join(f"{f} {s:,} steps" for f, s in meta_steps.items()) or "not run")
        + f" (reference: 50k steps, S = 32). Per-task fits on the context only, {size.num_test_tasks} tasks "
        f"batched: single-task BNNP and GIVI {size.fit_steps} ELBO steps (S = {size.fit_samples}), MFVI "
        f"{size.mfvi_steps} steps, SWAG {size.swag_pretrain} MAP + {size.swag_steps} SWA steps, HMC "
        f"{size.hmc_burn} burn-in + {size.hmc_samples} × {size.hmc_thin} iterations of {size.hmc_leapfrog} "
        f"leapfrog steps (reference: 30k ELBO steps; HMC 100 leapfrog × 5,000 iterations). "
        f"{size.eval_samples} samples (HMC {size.hmc_samples}). PPD ↑ with the method's σ_y, MAE ↓; mean ± "
        "s.e. over tasks; differences of PPD paired over tasks (tasks where the first is higher); BNNP = "
        f"the amortised BNNP with the learned prior. Compute time of the cells {seconds / 60:.0f} min.",
        "",
        "| family | method | PPD standard | PPD learned | learned − standard | learned − BNNP | "
        "MAE standard | MAE learned | reference PPD std / learned | reference MAE std / learned |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, rows in summary.items():
        for method, cells in rows.items():
            std, learned = cells.get("standard"), cells.get("learned")
            lines.append(
                f"| {family} | {method} | {_cell(std, 'ppd')} | {_cell(learned, 'ppd')} | "
                f"{_difference(cells.get('learned_minus_standard'))} | "
                f"{_difference(cells.get('learned_minus_bnnp'))} | {_cell(std, 'mae')} | "
                f"{_cell(learned, 'mae')} | {_reference(family, method)} |"
            )
    return "\n".join(lines) + "\n"


def learning_curves_figure(checkpoint_dir: Path, path: Path, *, window: int = 10) -> None:
    """The meta-training loss of each family (``<checkpoint stem>.jsonl`` logs), a running mean over
    ``window`` log lines, on a log scale: whether the curves had flattened where the runs stopped."""
    import matplotlib.pyplot as plt  # only when drawing

    from ..plot import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
    for family in FAMILIES:
        log = Path(checkpoint_dir) / f"transfer_{family}_rho1.jsonl"
        if not log.is_file():
            continue
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        steps = np.array([line["step"] for line in lines])
        loss = np.convolve([line["loss"] for line in lines], np.ones(window) / window, mode="valid")
        axes[0].plot(steps[window - 1 :], loss, label=f"{family} ({FAMILY_SETTINGS[family]['activation']})")
        axes[1].plot(steps, [line["noise_std"] for line in lines], label=family)
    axes[0].set_yscale("log")
    axes[0].set_ylabel(f"−PP-AVI per batch (mean of {window} logs)")
    axes[1].set_ylabel("learned σ_y")
    for ax in axes:
        ax.set_xlabel("optimiser step")
        ax.legend(fontsize=8)
    fig.suptitle("Meta-training of the no-free-lunch BNNPs ([48, 48], S = 8, B = 5)")
    save_figure(fig, path, close=True)


def run(
    size: TableSize,
    out: Path | None = None,
    *,
    checkpoint_dir: Path | None = None,
    priors: tuple[str, ...] = PRIORS,
    methods: tuple[str, ...] = tuple(METHODS),
    train: bool = True,
    seed: int = 0,
    name: str = "no_free_lunch",
    log=print,
) -> dict:
    """Fill the table's ``methods`` × ``priors`` cells (cached under ``out/<name>_cells``); write
    ``out/<name>.{json,md}``."""
    cells_dir = None if out is None else Path(out) / f"{name}_cells"
    if cells_dir is not None:
        check_runs_size(cells_dir, replace(size, families=()))  # cells are per family: any subset resumes
    cells: dict = {}
    meta_steps: dict[str, int] = {}
    for family in size.families:
        amortised = None
        if "learned" in priors:
            amortised, meta_steps[family] = meta_trained(family, size, checkpoint_dir, train=train, seed=seed)
        for prior_kind in priors:
            tag = prior_kind if prior_kind == "standard" else f"learned{meta_steps[family]}"
            for method in methods:
                slug = METHODS[method][0]
                if method == "BNNP (amortised)" and prior_kind == "standard":
                    continue  # amortising the standard prior needs a second meta-trained model (ρ = 0)
                path = None if cells_dir is None else cells_dir / f"{family}_{tag}_{slug}.json"
                compute = partial(
                    evaluate_cell, family, prior_kind, method, size, amortised=amortised, seed=seed
                )
                cell = cached_json(path, compute)
                cells.setdefault(family, {}).setdefault(method, {})[prior_kind] = cell
                log(
                    f"{family:9s} {tag:12s} {method:24s} PPD {np.mean(cell['ppd']):7.3f}  "
                    f"MAE {np.mean(cell['mae']):.3f}  σ_y {cell['noise_std']:.3f}  [{cell['seconds']:.0f} s]"
                )
        if family == "gp":
            cells[family]["exact GP (ceiling)"] = {"standard": _exact_gp(size)}
    summary = {}
    for family, rows in cells.items():
        bnnp = rows.get("BNNP (amortised)", {}).get("learned")
        order = [*(m for m in METHODS if m in rows), *(m for m in rows if m not in METHODS)]
        summary[family] = {method: _summary(rows[method], bnnp) for method in order}
    seconds = sum(
        cell.get("seconds", 0.0) for rows in cells.values() for by in rows.values() for cell in by.values()
    )
    data = {
        "size": asdict(size),
        "meta_steps": meta_steps,
        "summary": summary,
        "cells": cells,
        "seconds": seconds,
    }
    if out is not None:
        write_results(Path(out), name, data, _markdown(summary, size, meta_steps, seconds))
    return data


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--priors", nargs="*", default=list(PRIORS), choices=PRIORS)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument(
        "--no-train", action="store_true", help="use the saved meta-training state however far it got"
    )
    parser.add_argument(
        "--figure", type=Path, default=None, help="also draw the meta-training curves into this PNG"
    )


def _options(args: argparse.Namespace) -> dict:
    return {"priors": tuple(args.priors), "methods": tuple(args.methods), "train": not args.no_train}


def _after(args: argparse.Namespace) -> None:
    if args.figure is not None and args.checkpoints is not None:
        learning_curves_figure(args.checkpoints, args.figure)


STUDY = Study(
    name="no_free_lunch", size_type=TableSize, run=run, doc=__doc__, add_options=_add_options,
    options=_options, after=_after,
)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(driver_main(STUDY))
