"""Crash-safe training: where the periodic resume state lives, how a run recognises its own, and how it
writes and reads that state.

A run writes its resume state every ``checkpoint_every`` steps to a file *next to* its checkpoint that is
not the checkpoint (``learned.pt`` -> ``learned.resume.pt``): workflow managers delete a failed job's
declared outputs (Snakemake does, after ``kill -9`` too, on ``--rerun-incomplete``), but not this file.
The state carries a fingerprint of everything that determines the run (train and model configs, the
experiment and the data's schema); a rerun with a different fingerprint starts afresh instead of
continuing someone else's training. Every file is read through
:func:`climate_bnnp.checkpoint.read_checkpoint_state` (``weights_only`` loading: data, never code).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import read_checkpoint_state, save_checkpoint
from ..config import TrainConfig
from .distributed import World, gather_objects, seed_streams

__all__ = [
    "resume_path_for",
    "run_fingerprint",
    "jitter_state",
    "load_jitter_state",
    "resumable_state",
    "rank_streams",
    "rng_state",
    "set_rng_state",
    "save_training_state",
    "restore_training_state",
]

LOGGER = logging.getLogger(__name__)


def resume_path_for(checkpoint_path: str | Path) -> Path:
    """The resume file of a checkpoint: ``dir/name.pt`` -> ``dir/name.resume.pt``."""
    path = Path(checkpoint_path)
    return path.with_name(f"{path.stem}.resume{path.suffix or '.pt'}")


def run_fingerprint(**parts: Any) -> str:
    """SHA-256 of the plain-data ``parts`` (JSON with sorted keys; tuples and lists alike)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _jitter_logs(model: nn.Module) -> list[Any]:
    """Every module's ``jitter`` counter (a dataclass), in module order."""
    logs = [getattr(m, "jitter", None) for m in model.modules()]
    return [log for log in logs if dataclasses.is_dataclass(log)]


def jitter_state(model: nn.Module) -> list[dict[str, float]]:
    """The jitter counters as plain data (they are not in the state dict but appear in the log)."""
    return [dataclasses.asdict(log) for log in _jitter_logs(model)]


def load_jitter_state(model: nn.Module, state: list[dict[str, float]]) -> None:
    logs = _jitter_logs(model)
    if len(logs) != len(state):
        raise ValueError(f"resume state has {len(state)} jitter counters, the model {len(logs)}.")
    for log, values in zip(logs, state, strict=True):
        for key, value in values.items():
            setattr(log, key, value)


def rng_state(device: torch.device) -> dict[str, Any]:
    """The torch RNG state (and the device's CUDA RNG state on a GPU)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())  # loading with map_location=cuda moved it
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def resumable_state(
    paths: tuple[Path | None, ...], fingerprint: str, device: torch.device
) -> dict[str, Any] | None:
    """The newest saved state of this very run (the first of ``paths`` that holds one), or None.

    A file of another run (other fingerprint), one without a fingerprint (never adopted: nothing says it
    is this run's) or one that is no checkpoint of this version (foreign, earlier format, corrupt) is
    skipped with a warning; the run starts afresh and overwrites it.
    """
    for path in paths:
        if path is None or not path.exists():
            continue
        try:
            state = read_checkpoint_state(path, map_location=device)
        except ValueError as err:
            warnings.warn(f"{err} Training starts afresh and will overwrite it.", stacklevel=3)
            continue
        if state.get("fingerprint") != fingerprint:
            why = (
                "has no run fingerprint (an earlier version or another tool wrote it), so it cannot be told "
                "to be this run's"
                if state.get("fingerprint") is None
                else "was written by a run with other settings (config, model, experiment or data schema)"
            )
            warnings.warn(f"{path} {why}; training starts afresh and will overwrite it.", stacklevel=3)
            continue
        if "optimiser" in state and "step" in state:
            return state | {"path": str(path)}
    return None


def rank_streams(state: dict[str, Any], world: World) -> dict[str, Any] | None:
    """This rank's saved sampler, RNG and jitter state; None for a rank the saved run did not have."""
    single = {"sampler": state["sampler"], "rng": state["rng"], "jitter": state.get("jitter", [])}
    ranks = state.get("ranks") or [single]
    if len(ranks) != world.size:
        warnings.warn(
            f"{state['path']} was written by {len(ranks)} training process(es), this run has {world.size}: "
            "it continues the parameters, optimiser and schedule, but the task streams differ from an "
            "uninterrupted run's.",
            stacklevel=4,
        )
    return ranks[world.rank] if world.rank < len(ranks) else None


def save_training_state(
    path: Path | None,
    model: nn.Module,
    *,
    sampler: Any,
    world: World,
    device: torch.device,
    **state: Any,
) -> None:
    """Write the whole training state to ``path`` (rank 0; nothing when ``path`` is None).

    A collective: every rank calls it at the same steps, and every rank's sampler, RNG and jitter state goes
    into the file (``ranks`` under ``torch.distributed``). ``state``: the optimiser, scheduler, step, log
    lines, fingerprint, configs and schema, stored as given.
    """
    streams = gather_objects(
        {"sampler": sampler.state_dict(), "rng": rng_state(device), "jitter": jitter_state(model)}, world
    )
    ranks = {"ranks": streams, "world_size": world.size} if world.distributed else {}
    if path is not None and world.main:
        save_checkpoint(
            path,
            model,
            sampler=streams[0]["sampler"],
            rng=streams[0]["rng"],
            jitter=streams[0]["jitter"],
            **state,
            **ranks,
        )


def restore_training_state(
    state: dict[str, Any] | None,
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    sampler: Any,
    config: TrainConfig,
    world: World,
    device: torch.device,
) -> tuple[int, list[str]]:
    """Start a run: from ``state`` (a :func:`resumable_state`) when given, else with fresh streams of
    ``config.seed``.

    From a state: the parameters, optimiser and schedule, and this rank's sampler, RNG and jitter state (a
    rank the saved run did not have starts a new stream of its own, derived from the seed, rank and step).

    Returns:
        The number of steps done and the log lines written so far.
    """
    if state is None:
        seed_streams(sampler, config.seed, world.rank)  # rank 0: torch and the sampler seeded with the seed
        return 0, []
    model.load_state_dict(state["model_state"])
    optimiser.load_state_dict(state["optimiser"])
    scheduler.load_state_dict(state["scheduler"])
    start = int(state["step"])
    streams = rank_streams(state, world)
    if streams is None:
        seed_streams(sampler, config.seed, world.rank, step=start)
    else:
        sampler.load_state_dict(streams["sampler"])
        set_rng_state(streams["rng"], device)
        load_jitter_state(model, streams.get("jitter", []))
    LOGGER.info("resuming from %s at step %d of %d", state["path"], start, config.steps)
    return start, list(state.get("log_lines", []))
