"""Model-agnostic meta-training loop: Adam with linear learning-rate decay, NaN guard, checkpoint/resume.

The loop knows nothing about the model beyond ``parameters()``, ``config`` and an objective function
``objective(model, batch, *, num_samples, beta, chunk_size) -> (B,)`` to maximise. :func:`fit` is built from
:func:`build_optimiser`, :func:`~.resume.restore_training_state` (a resume file or fresh streams),
:func:`optimisation_step` and the metrics of :func:`step_record` / :func:`write_log_line`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..config import ModelConfig, TrainConfig, config_to_dict
from ..models import build_model
from ..models.devices import resolve_device
from ..objectives import OBJECTIVES
from ..tasks import Batch, TaskSampler
from .distributed import World, barrier, current_world, world_jitter_report, world_mean, wrap_ddp
from .resume import (
    restore_training_state,
    resumable_state,
    resume_path_for,
    run_fingerprint,
    save_training_state,
)

__all__ = [
    "fit",
    "seeded_model",
    "build_optimiser",
    "optimisation_step",
    "progress_line",
    "step_record",
    "write_log_line",
]

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _training_device(config: TrainConfig, world: World) -> torch.device:
    device = resolve_device(config.device, where="train.device")
    if world.distributed and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # the local rank's (init_distributed)
    return device


LAUNCH_SETTINGS = {"train": ("distributed",), "data": ("dask_scheduler",)}
"""Config fields that say how a run is launched, not what it computes: not part of its fingerprint."""


def _without_launch_settings(section: str, values: dict | None) -> dict | None:
    if not isinstance(values, dict):
        return values
    return {k: v for k, v in values.items() if k not in LAUNCH_SETTINGS.get(section, ())}


def _fingerprint(
    model: nn.Module, config: TrainConfig, dtype: torch.dtype, schema: dict | None, experiment: dict | None
) -> str:
    """What determines the run (without its launch settings): a resume file of another run is not used."""
    if experiment is not None:
        experiment = {k: _without_launch_settings(k, v) for k, v in experiment.items()}
    return run_fingerprint(
        train=_without_launch_settings("train", config_to_dict(config)),
        model=config_to_dict(model.config),
        experiment=experiment,
        schema=schema,
        dtype=str(dtype),
    )


def seeded_model(model: nn.Module | ModelConfig | Callable[[], nn.Module], seed: int) -> nn.Module:
    """The model to train: ``model`` itself when it is one, else built under ``torch.manual_seed(seed)``
    from its :class:`~climate_bnnp.config.ModelConfig` (:func:`~climate_bnnp.models.build_model`) or a
    factory ``() -> model``, so its initial weights follow from the seed alone, whatever the caller did to
    torch's random state before."""
    if isinstance(model, nn.Module):
        return model
    torch.manual_seed(seed)
    return build_model(model) if isinstance(model, ModelConfig) else model()


def build_optimiser(
    model: nn.Module, config: TrainConfig
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LinearLR]:
    """Adam at ``config.lr``, decaying linearly to ``config.final_lr`` over ``config.steps`` steps."""
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LinearLR(
        optimiser, start_factor=1.0, end_factor=config.final_lr / config.lr, total_iters=max(config.steps, 1)
    )
    return optimiser, scheduler


def _batch_objective(
    model: nn.Module, objective: Callable, config: TrainConfig, world: World, device: torch.device
) -> Callable[[Batch], Tensor]:
    """``batch -> objective values (B,)``; under ``torch.distributed`` a DDP module, which averages the
    gradients over the ranks during backward."""
    options = {"num_samples": config.num_samples, "beta": config.beta, "chunk_size": config.chunk_size}
    if world.distributed:
        return wrap_ddp(model, objective, device, **options)
    return functools.partial(objective, model, **options)


def optimisation_step(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    objective: Callable[[Batch], Tensor],
    batch: Batch,
) -> tuple[Tensor, int]:
    """One step maximising the batch mean of ``objective(batch)``.

    The ρ masks (gradient hooks of the prior parameters) and DDP's gradient averaging act during backward;
    then non-finite gradient entries are zeroed (the NaN guard) before the optimiser and schedule step.

    Returns:
        The loss (detached) and the number of parameters whose gradient was not finite.
    """
    loss = -objective(batch).mean()
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    bad = 0
    for param in model.parameters():
        if param.grad is not None and not torch.isfinite(param.grad).all():
            bad += 1
            param.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
    optimiser.step()
    scheduler.step()
    return loss.detach(), bad


def step_record(
    step: int,
    loss: Tensor,
    bad: int,
    model: nn.Module,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    world: World,
    tick: float,
) -> dict[str, Any]:
    """The metrics of step ``step`` (counted from 1), begun at ``time.perf_counter()`` = ``tick``."""
    return {
        "step": step,
        "loss": world_mean(loss, world),  # over all ranks' tasks
        "lr": scheduler.get_last_lr()[0],
        "noise_std": None if (std := model.noise_std()) is None else float(std.detach().mean()),
        "nonfinite_grads": bad,
        "seconds": time.perf_counter() - tick,
    }


def write_log_line(
    record: dict[str, Any],
    model: nn.Module,
    world: World,
    device: torch.device,
    lines: list[str],
    file: TextIO | None,
) -> None:
    """Append ``record`` and the jitter counters (summed over the ranks; a collective) as one JSON line to
    ``lines`` and to ``file`` (rank 0's log, or None)."""
    jitter = world_jitter_report(model.jitter_report(), world, device)
    lines.append(json.dumps(record | jitter) + "\n")
    if file is not None:
        file.write(lines[-1])
        file.flush()


def _duration(seconds: float) -> str:
    """``seconds`` as ``"1 h 02 min"``, ``"3 min 05 s"`` or ``"42 s"``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def progress_line(step: int, total: int, loss: float, steps_done: int, elapsed: float) -> str:
    """One human-readable progress line: step, loss, steps per second and the time left.

    Args:
        step: the step just finished, counted from 1. total: the run's number of steps.
        loss: that step's loss (the negative objective, averaged over the batch).
        steps_done: steps run in this call (a resumed run counts from its resume step).
        elapsed: seconds since this call's first step began.

    Returns:
        E.g. ``"step 50/600  loss 1.234  2.31 steps/s  time left 3 min 58 s"`` (no newline).
    """
    rate = steps_done / elapsed if elapsed > 0 else float("inf")
    left = (total - step) / rate if rate > 0 else float("inf")
    left_text = _duration(left) if left != float("inf") else "unknown"
    return f"step {step}/{total}  loss {loss:.4g}  {rate:.3g} steps/s  time left {left_text}"


@contextmanager
def _log_file(path: str | Path | None, lines: list[str], world: World) -> Iterator[TextIO | None]:
    """Rank 0's JSON-lines log, starting with ``lines`` (a resumed run's log starts as the uninterrupted
    one's did); None on the other ranks or without ``path``."""
    if path is None or not world.main:
        yield None
        return
    with Path(path).open("w") as file:
        file.writelines(lines)
        file.flush()
        yield file


def fit(
    model: nn.Module | ModelConfig | Callable[[], nn.Module],
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
    progress: bool | TextIO = True,
) -> list[dict[str, float]]:
    """Meta-train ``model`` on batches from ``sampler``; crash-safe and reproducible.

    ``fit`` owns the seeding: given a model config or a factory, it builds the model under
    ``torch.manual_seed(config.seed)`` (:func:`seeded_model`), and a fresh run then seeds torch and the
    sampler from ``config.seed``; two runs of a config are identical without the caller seeding anything (a
    model passed built keeps the caller's initial weights).

    Every ``checkpoint_every`` steps the whole training state (model, optimiser, scheduler, sampler and
    torch RNG states, jitter counters, the log lines so far) goes atomically to ``resume_path``; with
    ``resume`` a rerun continues from there and ends bit-identical to an uninterrupted run (the same
    parameters; the same log apart from ``seconds``). At the end the final checkpoint is written to
    ``checkpoint_path`` and the resume file is removed.

    Inside a ``torch.distributed`` process group (``torchrun``; see :mod:`climate_bnnp.train.distributed`)
    every rank calls ``fit`` with the same arguments: each draws ``batch_size`` tasks per step from its own
    stream, DDP averages the gradients (a step over the union of the ranks' tasks), the logged loss and jitter
    counters are over all ranks, and only rank 0 writes the log, checkpoint and resume file (which holds every
    rank's streams). A resume file of the same world size continues bit-identically; one of another world
    size continues the parameters, optimiser and schedule (ranks without a saved stream start a new one
    derived from the seed, the rank and the step) with a warning that the run is no longer reproducible.

    Args:
        model: a BNNP-family model, or (preferably) its :class:`~climate_bnnp.config.ModelConfig` or a
            factory ``() -> model``, built from the seed.
        sampler: draws :class:`~climate_bnnp.tasks.Batch` objects; a fresh run reseeds it (``reseed``), a
            resumed one restores its checkpointed state (``load_state_dict``).
        config: the :class:`TrainConfig`.
        checkpoint_path: the final checkpoint (with optimiser and RNG state, so it can be trained further).
        log_path: JSON-lines metrics log, rewritten from the resume state when resuming.
        resume: continue from ``resume_path`` (else from an existing ``checkpoint_path``) when its run
            fingerprint (train and model config, ``experiment``, ``schema``) matches; a mismatching file (or
            one that is no checkpoint of this version) is ignored with a warning and overwritten at the next
            save. Every file is read through :func:`climate_bnnp.checkpoint.read_checkpoint_state`.
        resume_path: where the periodic resume state lives; default ``<checkpoint stem>.resume.pt`` next to
            ``checkpoint_path`` (not a Snakemake output, so a failed job's cleanup keeps it).
        schema, experiment: plain data stored in every checkpoint (the input schema's ``to_dict()``).
        objective: overrides ``OBJECTIVES[config.objective]``.
        progress: ``True``: a progress bar; ``False``: nothing; a text stream (e.g. ``sys.stderr``, which
            the pipeline's train step redirects into its log): one :func:`progress_line` every
            ``log_every`` steps and at the last step, flushed at once so ``tail -f`` shows it (rank 0 only).

    Returns:
        The metric records of the steps run in this call.
    """
    world = current_world()
    model = seeded_model(model, config.seed)
    device = _training_device(config, world)
    dtype = DTYPES[config.dtype]
    model.to(device=device, dtype=dtype)
    model.train()
    optimiser, scheduler = build_optimiser(model, config)
    checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
    if resume_path is None and checkpoint_path is not None:
        resume_path = resume_path_for(checkpoint_path)
    resume_path = None if resume_path is None else Path(resume_path)
    fingerprint = _fingerprint(model, config, dtype, schema, experiment)
    state = resumable_state((resume_path, checkpoint_path), fingerprint, device) if resume else None
    start, lines = restore_training_state(state, model, optimiser, scheduler, sampler, config, world, device)
    objective = objective or OBJECTIVES[config.objective]
    batch_objective = _batch_objective(model, objective, config, world, device)

    def save(path: Path | None, step: int) -> None:  # a collective: every rank calls it at the same steps
        save_training_state(
            path, model, sampler=sampler, world=world, device=device, schema=schema, experiment=experiment,
            train_config=config_to_dict(config), optimiser=optimiser.state_dict(),
            scheduler=scheduler.state_dict(), step=step, log_lines=list(lines), fingerprint=fingerprint,
        )  # fmt: skip

    records = []
    stream = progress if not isinstance(progress, bool) and world.main else None
    bar = tqdm(
        range(start, config.steps),
        disable=progress is not True or not world.main,
        desc="meta-training",
        initial=start,
        total=config.steps,
    )
    began = time.perf_counter()
    with _log_file(log_path, lines, world) as log:
        for step in bar:
            tick = time.perf_counter()
            batch = sampler.sample(config.batch_size).to(device, dtype)
            loss, bad = optimisation_step(model, optimiser, scheduler, batch_objective, batch)
            records.append(step_record(step + 1, loss, bad, model, scheduler, world, tick))
            bar.set_postfix(loss=f"{records[-1]['loss']:.3g}")
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                write_log_line(records[-1], model, world, device, lines, log)
                if stream is not None:
                    elapsed = time.perf_counter() - began
                    loss_value = float(records[-1]["loss"])
                    stream.write(progress_line(step + 1, config.steps, loss_value, step + 1 - start, elapsed))
                    stream.write("\n")
                    stream.flush()
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
                save(resume_path, step + 1)
        save(checkpoint_path, config.steps)
        if resume_path is not None and resume_path != checkpoint_path and world.main:
            resume_path.unlink(missing_ok=True)
        barrier(world)  # every rank returns once the checkpoint is written
    return records
