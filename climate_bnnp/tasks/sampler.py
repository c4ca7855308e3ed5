"""Random context/target splits and batches of tasks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .batch import Batch, collate

__all__ = ["TaskSource", "split_context_target", "TaskSampler"]

TaskSource = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]
"""A callable drawing one task ``(x (N, Dx), y (N, Dy))`` with the given Generator."""


def split_context_target(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    context_fraction: tuple[float, float],
    max_targets: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint random split: context proportion ``π ~ U(a, b)``, ``⌊π N⌋`` context points, the rest targets.

    An empty side borrows one point of the other (as the reference code does). With ``max_targets``
    the targets are a random subset of that size: the predictive term is then a (biased) estimate of
    the all-target term, because log-mean-exp over samples does not commute with subsampling points.
    """
    n = len(x)
    low, high = context_fraction
    num_context = int(np.floor(rng.uniform(low, high) * n))
    perm = rng.permutation(n)
    context, target = perm[:num_context], perm[num_context:]
    if len(context) == 0:
        context = target[:1]
    if len(target) == 0:
        target = context[:1]
    if max_targets is not None and len(target) > max_targets:
        target = target[:max_targets]
    return x[context], y[context], x[target], y[target]


class TaskSampler:
    """Draws batches of tasks from a source and splits each into context and targets.

    Args:
        source: a :data:`TaskSource`.
        context_fraction: range of the context proportion.
        max_targets: optional size of the target subset per task.
        seed: seed of the sampler's numpy Generator (its state is saved in checkpoints; see :meth:`reseed`).
    """

    def __init__(
        self,
        source: TaskSource,
        *,
        context_fraction: tuple[float, float] = (0.1, 0.5),
        max_targets: int | None = None,
        seed: int = 0,
    ) -> None:
        self.source = source
        self.context_fraction = context_fraction
        self.max_targets = max_targets
        self.reseed(seed)

    def reseed(self, seed: int | np.random.SeedSequence) -> None:
        """Restart the task stream from ``seed``: it then draws what a new sampler of that seed draws."""
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int) -> Batch:
        """A :class:`Batch` of ``batch_size`` freshly drawn tasks (float64, CPU)."""
        tasks = []
        for _ in range(batch_size):
            x, y = self.source(self.rng)
            tasks.append(
                split_context_target(
                    x, y, self.rng, context_fraction=self.context_fraction, max_targets=self.max_targets
                )
            )
        return collate(tasks)

    def state_dict(self) -> dict:
        """The Generator's state (plain data)."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Continue the stream of a :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
