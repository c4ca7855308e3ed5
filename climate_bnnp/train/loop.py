"""Model-agnostic meta-training loop: Adam with linear learning-rate decay, NaN guard, checkpoint/resume.

The loop knows nothing about the model beyond ``parameters()``, ``config`` and an objective function
``objective(model, batch, *, num_samples, beta, chunk_size) -> (B,)`` to maximise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..checkpoint import save_checkpoint
from ..config import TrainConfig, config_to_dict
from ..objectives import OBJECTIVES
from ..tasks import TaskSampler

__all__ = ["fit", "resolve_device"]

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but CUDA is not available; use 'cpu' or 'auto'.")
    return torch.device(name)


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def fit(
    model: nn.Module,
    sampler: TaskSampler,
    config: TrainConfig,
    *,
    checkpoint_path: str | Path | None = None,
    log_path: str | Path | None = None,
    resume: bool = True,
    schema: dict | None = None,
    experiment: dict | None = None,
    objective: Callable | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Meta-train ``model`` on batches from ``sampler``.

    Args:
        model: a BNNP-family model.
        sampler: draws :class:`~climate_bnnp.tasks.Batch` objects (its Generator state is checkpointed).
        config: the :class:`TrainConfig`.
        checkpoint_path: where to save every ``checkpoint_every`` steps and at the end; with ``resume``
            an existing file there is loaded first and training continues from its step, identically to
            an uninterrupted run.
        log_path: JSON-lines metrics log (appended when resuming).
        schema, experiment: plain data stored in every checkpoint (the input schema's ``to_dict()``).
        objective: overrides ``OBJECTIVES[config.objective]``.
        progress: show a progress bar.

    Returns:
        The metric records of the steps run in this call.
    """
    device = resolve_device(config.device)
    dtype = DTYPES[config.dtype]
    model.to(device=device, dtype=dtype)
    model.train()
    objective = objective or OBJECTIVES[config.objective]
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LinearLR(
        optimiser, start_factor=1.0, end_factor=config.final_lr / config.lr, total_iters=max(config.steps, 1)
    )
    start = 0
    checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model_state"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.load_state_dict(state["sampler"])
        _set_rng_state(state["rng"], device)
        start = int(state["step"])
    else:
        torch.manual_seed(config.seed)
        sampler.rng = np.random.default_rng(config.seed)

    def save(step: int) -> None:
        if checkpoint_path is not None:
            save_checkpoint(
                checkpoint_path,
                model,
                schema=schema,
                experiment=experiment,
                train_config=config_to_dict(config),
                optimiser=optimiser.state_dict(),
                scheduler=scheduler.state_dict(),
                sampler=sampler.state_dict(),
                rng=_rng_state(device),
                step=step,
            )

    log = None if log_path is None else Path(log_path).open("a" if start else "w")
    records = []
    bar = tqdm(
        range(start, config.steps),
        disable=not progress,
        desc="meta-training",
        initial=start,
        total=config.steps,
    )
    try:
        for step in bar:
            tick = time.perf_counter()
            batch = sampler.sample(config.batch_size).to(device, dtype)
            value = objective(
                model, batch, num_samples=config.num_samples, beta=config.beta, chunk_size=config.chunk_size
            )
            loss = -value.mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            bad = 0
            for param in model.parameters():
                if param.grad is not None and not torch.isfinite(param.grad).all():
                    bad += 1
                    param.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
            optimiser.step()
            scheduler.step()
            record = {
                "step": step + 1,
                "loss": float(loss.detach()),
                "lr": scheduler.get_last_lr()[0],
                "noise_std": float(model.likelihood.std().detach().mean()),
                "nonfinite_grads": bad,
                "seconds": time.perf_counter() - tick,
            }
            records.append(record)
            bar.set_postfix(loss=f"{record['loss']:.3g}")
            if log is not None and ((step + 1) % config.log_every == 0 or step + 1 == config.steps):
                log.write(json.dumps(record | model.jitter_report()) + "\n")
                log.flush()
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
                save(step + 1)
        save(config.steps)
    finally:
        if log is not None:
            log.close()
    return records
