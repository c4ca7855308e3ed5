"""Data-parallel meta-training: torch.distributed + DistributedDataParallel, launched by ``torchrun``.

Each of the ``W`` ranks draws ``B`` tasks per step from its own stream and maximises the mean objective over
them; DDP averages the gradients over ranks. Because every rank holds the same number ``B`` of tasks, the mean
of the per-rank means is the mean over the union of the ``W·B`` tasks: one distributed step *is* one
single-process step over the union (same gradient, up to summation order). The NaN guard then sees the
averaged gradient, identical on every rank, and the ρ gradient masks (tensor hooks on the prior parameters)
act before the averaging, as on one process.

Streams: rank 0 draws the single-process stream of ``train.seed`` (numpy ``SeedSequence(seed)``, torch seeded
with ``seed``); rank ``r > 0`` the child ``SeedSequence(seed, spawn_key=(r,))``. They are distinct,
reproducible and independent of the world size, so a one-rank distributed run equals a single-process run.

Only rank 0 writes checkpoints, resume files and logs; the resume file holds every rank's sampler, RNG and
jitter state (``ranks``), so a run resumed with the same world size continues bit-identically.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "World",
    "current_world",
    "launched_by_torchrun",
    "init_distributed",
    "rank_seed_sequence",
    "rank_torch_seed",
    "seed_streams",
    "world_mean",
    "world_jitter_report",
    "gather_objects",
    "barrier",
    "ObjectiveModule",
    "wrap_ddp",
]


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (a single process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether a process group is active (even with one rank)."""
        return dist.is_available() and dist.is_initialized()

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints and logs."""
        return self.rank == 0


def current_world() -> World:
    """The active process group's rank and size (``World()`` without one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    rank = dist.get_rank()
    return World(rank=rank, size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", rank)))


def launched_by_torchrun() -> bool:
    """Whether ``torchrun`` started this process (it sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ...)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def init_distributed(backend: str = "auto", device: str = "auto", timeout_s: float = 1800) -> World:
    """Join the process group that ``torchrun`` describes in the environment (``env://``).

    Args:
        backend: ``auto`` (``nccl`` when the run uses CUDA, else ``gloo``), ``gloo`` or ``nccl``.
        device: the training device setting (``cpu``, ``cuda``, ``auto``); on CUDA each rank takes the GPU of
            its ``LOCAL_RANK``.
        timeout_s: how long a collective waits for a missing rank before failing.

    Returns:
        This process's :class:`World`; ``World()`` (nothing initialised) when not launched by torchrun.
    """
    if not launched_by_torchrun():
        return World()
    if dist.is_initialized():
        return current_world()
    cuda = device != "cpu" and torch.cuda.is_available()
    if backend == "auto":
        backend = "nccl" if cuda else "gloo"
    if backend == "nccl" and not cuda:
        raise RuntimeError("backend 'nccl' needs CUDA; set train.distributed.backend to 'gloo' or 'auto'.")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return current_world()


def rank_seed_sequence(seed: int, rank: int, step: int | None = None) -> np.random.SeedSequence:
    """The numpy seed of rank ``rank``'s task stream: ``SeedSequence(seed)`` for rank 0 (the single-process
    stream), the spawned child ``SeedSequence(seed, spawn_key=(rank,))`` otherwise; with ``step``, the stream
    that a rank started at that step (one a resumed run did not have): ``spawn_key=(rank, step)``."""
    if step is not None:
        return np.random.SeedSequence(seed, spawn_key=(rank, step))
    if rank == 0:
        return np.random.SeedSequence(seed)
    return np.random.SeedSequence(seed, spawn_key=(rank,))


def rank_torch_seed(seed: int, rank: int, step: int | None = None) -> int:
    """The torch seed of rank ``rank`` (its Monte-Carlo weight samples): ``seed`` for rank 0 from the start,
    else 63 bits drawn from :func:`rank_seed_sequence`."""
    if rank == 0 and step is None:
        return seed
    return int(rank_seed_sequence(seed, rank, step).generate_state(1, np.uint64)[0] >> np.uint64(1))


def seed_streams(sampler: Any, seed: int, rank: int, step: int | None = None) -> None:
    """Start this rank's streams: torch from :func:`rank_torch_seed`, ``sampler.reseed`` from
    :func:`rank_seed_sequence` (the same arguments)."""
    torch.manual_seed(rank_torch_seed(seed, rank, step))
    sampler.reseed(rank_seed_sequence(seed, rank, step))


def world_mean(value: Tensor, world: World) -> float:
    """The mean of a scalar over the ranks (the value itself on a single process)."""
    if not world.distributed:
        return float(value)
    total = value.detach().clone().reshape(1)
    dist.all_reduce(total)
    return float(total) / world.size


def world_jitter_report(report: dict[str, float], world: World, device: torch.device) -> dict[str, float]:
    """Jitter counters summed over the ranks (``jitter_max``: the maximum)."""
    if not world.distributed:
        return report
    keys = sorted(report)
    summed = torch.tensor([float(report[k]) for k in keys], dtype=torch.float64, device=device)
    largest = summed.clone()
    dist.all_reduce(summed, op=dist.ReduceOp.SUM)
    dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    out: dict[str, Any] = {}
    for i, key in enumerate(keys):
        value = float(largest[i] if key.endswith("max") else summed[i])
        out[key] = int(value) if isinstance(report[key], int) else value
    return out


def gather_objects(obj: Any, world: World) -> list[Any]:
    """Every rank's ``obj`` (picklable plain data and CPU tensors), in rank order, on every rank."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


class ObjectiveModule(nn.Module):
    """``forward(batch) = objective(model, batch, ...)``: the whole objective runs inside DDP's forward, so
    every use of the model (``forward``, ``sample_weights``, ``decode``, ``likelihood``) is seen by DDP."""

    def __init__(self, model: nn.Module, objective: Callable, **kwargs: Any) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        self.kwargs = kwargs

    def forward(self, batch: Any) -> Tensor:
        return self.objective(self.model, batch, **self.kwargs)


def wrap_ddp(model: nn.Module, objective: Callable, device: torch.device, **kwargs: Any) -> nn.Module:
    """The objective of ``model`` as a DistributedDataParallel module (parameters stay ``model``'s).

    DDP copies rank 0's parameters and buffers (the ρ masks) to every rank here. Every trainable parameter
    takes part in every objective (tested), so unused-parameter detection stays off.
    """
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        ObjectiveModule(model, objective, **kwargs),
        device_ids=[device.index] if device.type == "cuda" else None,
    )
