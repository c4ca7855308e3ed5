"""ERA5 test tasks (random and held-out-region context) and amortised prediction on them.

Test protocols (spec §5.4):

* ``random``: every task of the test split; context proportion ``π ~ U(a, b)`` (paper: U(0.025, 0.25)),
  ``⌊π N⌋`` context cells drawn uniformly from the task's N valid cells, the other cells are targets;
* ``held_out``: every test task whose tile holds a cell of the held-out region (a country mask); the
  context (again ``⌊π N⌋`` cells, ``π`` a proportion of *all* N cells) is drawn only from cells outside the
  region, so the targets include every cell of the region ("swissless").

Both draws use one seeded Generator, so the set is fixed for a given store, seed and mask.

:func:`predict_samples` is the pipeline's prediction: it samples weights from the amortised posterior with
``model.sample_weights`` (context streamed in chunks) and decodes the targets chunk by chunk with
``model.decode``. It is duck-typed on the model (no import of :mod:`climate_bnnp.models`); it should be
unified with ``climate_bnnp.predict`` once that lands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .era5 import Era5Task, Era5TaskSet

__all__ = ["PROTOCOLS", "Era5TestTask", "build_test_tasks", "predict_samples"]

PROTOCOLS = ("random", "held_out")


@dataclass(frozen=True)
class Era5TestTask:
    """One test task: a task of the store and its fixed context/target split.

    Attributes:
        task: the task's valid cells. protocol: ``"random"`` or ``"held_out"``.
        context, target: disjoint index arrays into the task's points; together all points.
    """

    task: Era5Task
    protocol: str
    context: np.ndarray
    target: np.ndarray

    @property
    def xc(self) -> np.ndarray:
        """Context inputs ``(Nc, Dx)``."""
        return self.task.x[self.context]

    @property
    def yc(self) -> np.ndarray:
        """Context outputs ``(Nc, 1)`` (normalised tp)."""
        return self.task.y[self.context]

    @property
    def xt(self) -> np.ndarray:
        """Target inputs ``(Nt, Dx)``."""
        return self.task.x[self.target]

    @property
    def yt(self) -> np.ndarray:
        """Target outputs ``(Nt, 1)`` (normalised tp)."""
        return self.task.y[self.target]


def build_test_tasks(
    taskset: Era5TaskSet,
    *,
    split: str = "test",
    context_fraction: tuple[float, float] = (0.025, 0.25),
    seed: int = 69,
    held_out: np.ndarray | None = None,
) -> list[Era5TestTask]:
    """The fixed test set: the ``random`` protocol on every task, then ``held_out`` where it applies.

    Args:
        taskset: the store's tasks.
        split: which split to draw from.
        context_fraction: range ``(a, b)`` of the context proportion.
        seed: seed of the draws.
        held_out: optional boolean ``(n_lat, n_lon)`` mask over the store's whole grid (True inside the
            held-out region, e.g. :func:`climate_bnnp.data.country_mask`).

    Returns:
        Random-protocol tasks (store order), then held-out tasks (tiles with at least one valid region cell).

    Raises:
        ValueError: a mask of the wrong shape, or a held-out region with no valid cell in the split.
    """
    rng = np.random.default_rng(seed)
    low, high = context_fraction
    grid = (taskset.store.sizes["latitude"], taskset.store.sizes["longitude"])
    if held_out is not None and np.shape(held_out) != grid:
        raise ValueError(f"held_out mask must have the store's grid shape {grid}, got {np.shape(held_out)}.")
    tasks = [taskset.task(key) for key in taskset.keys(split)]
    tasks = [t for t in tasks if len(t.x) >= 2]
    out = []
    for task in tasks:
        n = len(task.x)
        perm = rng.permutation(n)
        num = min(n - 1, max(1, int(np.floor(rng.uniform(low, high) * n))))
        out.append(Era5TestTask(task, "random", np.sort(perm[:num]), np.sort(perm[num:])))
    if held_out is None:
        return out
    count = 0
    for task in tasks:
        inside = np.asarray(held_out)[task.rows, task.cols]  # (N,) bool
        if not inside.any():
            continue
        n = len(task.x)
        outside = np.flatnonzero(~inside)
        num = min(len(outside), max(1, int(np.floor(rng.uniform(low, high) * n))))
        context = np.sort(rng.choice(outside, size=num, replace=False))
        target = np.setdiff1d(np.arange(n), context)
        out.append(Era5TestTask(task, "held_out", context, target))
        count += 1
    if count == 0:
        raise ValueError(
            f"the held-out region has no valid cell in any {split!r} task; check the country lies inside "
            "the store's region (and over land for ERA5-Land)."
        )
    return out


@torch.no_grad()
def predict_samples(
    model: torch.nn.Module,
    xc: np.ndarray,
    yc: np.ndarray,
    xt: np.ndarray,
    *,
    num_samples: int,
    chunk_size: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """Function samples at the targets of one task, given its context (amortised; no fine-tuning).

    Args:
        model: a BNNP-family model (``sample_weights``, ``decode``).
        xc: context inputs ``(Nc, Dx)``; yc: ``(Nc, Dy)``; xt: target inputs ``(Nt, Dx)``.
        num_samples: S.
        chunk_size: points per chunk, for the context accumulation and for decoding the targets
            (None: one chunk each).
        device, dtype: where and in which precision the networks run.

    Returns:
        ``(S, Nt, Dy)`` float64 function samples in normalised units (add the likelihood noise for
        observations).
    """
    model.eval()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, device=device, dtype=dtype).unsqueeze(0)  # (1, N, D)

    sample = model.sample_weights(tensor(xc), tensor(yc), num_samples=num_samples, chunk_size=chunk_size)
    step = len(xt) if chunk_size is None else chunk_size
    parts = [
        model.decode(sample.weights, tensor(xt[i : i + step]))[:, 0]  # (S, n, Dy)
        for i in range(0, len(xt), max(step, 1))
    ]
    return torch.cat(parts, dim=1).double().cpu().numpy()  # (S, Nt, Dy)
