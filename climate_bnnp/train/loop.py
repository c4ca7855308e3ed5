"""Model-agnostic meta-training loop: Adam with linear learning-rate decay, NaN guard, checkpoint/resume.

The loop knows nothing about the model beyond ``parameters()``, ``config`` and an objective function
``objective(model, batch, *, num_samples, beta, chunk_size) -> (B,)`` to maximise.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
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
from .distributed import (
    World,
    barrier,
    current_world,
    gather_objects,
    rank_seed_sequence,
    rank_torch_seed,
    world_jitter_report,
    world_mean,
    wrap_ddp,
)
from .resume import jitter_state, load_jitter_state, resume_path_for, run_fingerprint

__all__ = ["fit", "resolve_device"]

DTYPES = {"float64": torch.float64, "float32": torch.float32}
LOGGER = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available; use 'cpu' or 'auto'.")
    return torch.device(name)


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())  # torch.load(map_location=cuda) moved it
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


LAUNCH_SETTINGS = {"train": ("distributed",), "data": ("dask_scheduler",)}
"""Config fields that say how a run is launched, not what it computes: not part of its fingerprint."""


def _without_launch_settings(section: str, values: dict | None) -> dict | None:
    if not isinstance(values, dict):
        return values
    return {k: v for k, v in values.items() if k not in LAUNCH_SETTINGS.get(section, ())}


def fit(
    model: nn.Module,
    sampler: TaskSampler,
    config: TrainConfig,
    *,
    checkpoint_path: str | Path | None = None,
    log_path: str | Path | None = None,
    resume: bool = True,
    resume_path: str | Path | None = None,
    schema: dict | None = None,
    experiment: dict | None = None,
    objective: Callable | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Meta-train ``model`` on batches from ``sampler``; crash-safe and reproducible.

    A fresh run seeds torch and the sampler from ``config.seed`` (seed torch before building the model too:
    the loop cannot know how it was initialised). Every ``checkpoint_every`` steps the whole training state
    (model, optimiser, scheduler, sampler and torch RNG states, jitter counters, the log lines so far) goes
    atomically to ``resume_path``; with ``resume`` a rerun continues from there and ends bit-identical to an
    uninterrupted run (the same parameters; the same log apart from ``seconds``). At the end the final
    checkpoint is written to ``checkpoint_path`` and the resume file is removed.

    Inside a ``torch.distributed`` process group (``torchrun``; see :mod:`climate_bnnp.train.distributed`)
    every rank calls ``fit`` with the same arguments: each draws ``batch_size`` tasks per step from its own
    stream, DDP averages the gradients (a step over the union of the ranks' tasks), the logged loss and jitter
    counters are over all ranks, and only rank 0 writes the log, checkpoint and resume file (which holds every
    rank's streams). A resume file of the same world size continues bit-identically; one of another world
    size continues the parameters, optimiser and schedule (ranks without a saved stream start a new one
    derived from the seed, the rank and the step) with a warning that the run is no longer reproducible.

    Args:
        model: a BNNP-family model.
        sampler: draws :class:`~climate_bnnp.tasks.Batch` objects (its Generator state is checkpointed).
        config: the :class:`TrainConfig`.
        checkpoint_path: the final checkpoint (with optimiser and RNG state, so it can be trained further).
        log_path: JSON-lines metrics log, rewritten from the resume state when resuming.
        resume: continue from ``resume_path`` (else from an existing ``checkpoint_path``) when its run
            fingerprint (train and model config, ``experiment``, ``schema``) matches; a mismatching file is
            ignored with a warning and overwritten at the next save.
        resume_path: where the periodic resume state lives; default ``<checkpoint stem>.resume.pt`` next to
            ``checkpoint_path`` (not a Snakemake output, so a failed job's cleanup keeps it).
        schema, experiment: plain data stored in every checkpoint (the input schema's ``to_dict()``).
        objective: overrides ``OBJECTIVES[config.objective]``.
        progress: show a progress bar.

    Returns:
        The metric records of the steps run in this call.
    """
    world = current_world()
    device = resolve_device(config.device)
    if world.distributed and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # the local rank's (init_distributed)
    dtype = DTYPES[config.dtype]
    model.to(device=device, dtype=dtype)
    model.train()
    objective = objective or OBJECTIVES[config.objective]
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LinearLR(
        optimiser, start_factor=1.0, end_factor=config.final_lr / config.lr, total_iters=max(config.steps, 1)
    )
    checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
    if resume_path is None and checkpoint_path is not None:
        resume_path = resume_path_for(checkpoint_path)
    resume_path = None if resume_path is None else Path(resume_path)
    fingerprint = run_fingerprint(
        train=_without_launch_settings("train", config_to_dict(config)),
        model=config_to_dict(model.config),
        experiment=None
        if experiment is None
        else {k: _without_launch_settings(k, v) for k, v in experiment.items()},
        schema=schema,
        dtype=str(dtype),
    )
    start, lines = 0, []  # lines: the log lines written so far (rewritten on resume)
    state = _resumable_state(resume, resume_path, checkpoint_path, fingerprint, device)
    if state is not None:
        model.load_state_dict(state["model_state"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        start, lines = int(state["step"]), list(state.get("log_lines", []))
        streams = _rank_streams(state, world)
        if streams is None:  # a rank the saved run did not have: a new stream of its own
            sequence = np.random.SeedSequence(config.seed, spawn_key=(world.rank, start))
            torch.manual_seed(int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1)))
            sampler.rng = np.random.default_rng(sequence)
        else:
            sampler.load_state_dict(streams["sampler"])
            _set_rng_state(streams["rng"], device)
            load_jitter_state(model, streams.get("jitter", []))
        LOGGER.info("resuming from %s at step %d of %d", state["path"], start, config.steps)
    else:
        torch.manual_seed(rank_torch_seed(config.seed, world.rank))  # rank 0: config.seed
        sampler.rng = np.random.default_rng(rank_seed_sequence(config.seed, world.rank))
    ddp = None
    if world.distributed:
        ddp = wrap_ddp(
            model,
            objective,
            device,
            num_samples=config.num_samples,
            beta=config.beta,
            chunk_size=config.chunk_size,
        )

    def save(path: Path | None, step: int) -> None:
        # every rank's streams go into the file (a collective: all ranks call save at the same steps)
        streams = gather_objects(
            {"sampler": sampler.state_dict(), "rng": _rng_state(device), "jitter": jitter_state(model)}, world
        )
        ranks = {"ranks": streams, "world_size": world.size} if world.distributed else {}
        if path is not None and world.main:
            save_checkpoint(
                path,
                model,
                schema=schema,
                experiment=experiment,
                train_config=config_to_dict(config),
                optimiser=optimiser.state_dict(),
                scheduler=scheduler.state_dict(),
                sampler=streams[0]["sampler"],
                rng=streams[0]["rng"],
                step=step,
                jitter=streams[0]["jitter"],
                log_lines=list(lines),
                fingerprint=fingerprint,
                **ranks,
            )

    log = None
    if log_path is not None and world.main:
        log = Path(log_path).open("w")
        log.writelines(lines)  # the resumed run's log starts as the uninterrupted one's did
        log.flush()
    records = []
    bar = tqdm(
        range(start, config.steps),
        disable=not progress or not world.main,
        desc="meta-training",
        initial=start,
        total=config.steps,
    )
    try:
        for step in bar:
            tick = time.perf_counter()
            batch = sampler.sample(config.batch_size).to(device, dtype)
            if ddp is not None:  # the gradients are averaged over the ranks during backward
                value = ddp(batch)
            else:
                value = objective(
                    model,
                    batch,
                    num_samples=config.num_samples,
                    beta=config.beta,
                    chunk_size=config.chunk_size,
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
                "loss": world_mean(loss.detach(), world),  # over all ranks' tasks
                "lr": scheduler.get_last_lr()[0],
                "noise_std": (  # σ_y of a Gaussian likelihood; None without one (Bernoulli–Gamma)
                    float(model.likelihood.std().detach().mean())
                    if model.likelihood.num_params == 1
                    else None
                ),
                "nonfinite_grads": bad,
                "seconds": time.perf_counter() - tick,
            }
            records.append(record)
            bar.set_postfix(loss=f"{record['loss']:.3g}")
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                jitter = world_jitter_report(model.jitter_report(), world, device)  # summed over ranks
                lines.append(json.dumps(record | jitter) + "\n")
                if log is not None:
                    log.write(lines[-1])
                    log.flush()
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
                save(resume_path, step + 1)
        save(checkpoint_path, config.steps)
        if resume_path is not None and resume_path != checkpoint_path and world.main:
            resume_path.unlink(missing_ok=True)
        barrier(world)  # every rank returns once the checkpoint is written
    finally:
        if log is not None:
            log.close()
    return records


def _rank_streams(state: dict[str, Any], world: World) -> dict[str, Any] | None:
    """This rank's saved sampler, RNG and jitter state; None for a rank the saved run did not have."""
    single = {"sampler": state["sampler"], "rng": state["rng"], "jitter": state.get("jitter", [])}
    ranks = state.get("ranks") or [single]
    if len(ranks) != world.size:
        warnings.warn(
            f"{state['path']} was written by {len(ranks)} training process(es), this run has {world.size}: "
            "it continues the parameters, optimiser and schedule, but the task streams differ from an "
            "uninterrupted run's.",
            stacklevel=3,
        )
    return ranks[world.rank] if world.rank < len(ranks) else None


def _resumable_state(
    resume: bool,
    resume_path: Path | None,
    checkpoint_path: Path | None,
    fingerprint: str,
    device: torch.device,
) -> dict[str, Any] | None:
    """The newest saved state of this very run (resume file first, then the checkpoint), or None."""
    if not resume:
        return None
    for path in (resume_path, checkpoint_path):
        if path is None or not path.exists():
            continue
        state = torch.load(path, map_location=device, weights_only=True)
        if state.get("fingerprint", fingerprint) != fingerprint:
            warnings.warn(
                f"{path} was written by a run with other settings (config, model, experiment or data "
                "schema); training starts afresh and will overwrite it.",
                stacklevel=3,
            )
            continue
        if "optimiser" in state and "step" in state:
            return state | {"path": str(path)}
    return None
