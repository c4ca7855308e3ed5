"""Assembling a prediction as a dask graph: one weight task per time step, one output task per block.

Each task (index along the extra dims) gets one delayed :func:`~.blocks.task_weights` call; every block of
target locations of that task is one delayed :func:`~.blocks.block_outputs` call that depends on it, so the
weights are drawn once and shared by all blocks. The blocks are stitched with ``dask.array.block`` into one
``(K, *task_dims, *spatial_dims)`` array.

The :class:`~.blocks.PredictionPlan` (with the model) is one key of its own that every call depends on, not
an argument embedded in each call: on a ``dask.distributed`` cluster it is sent to each worker at most once
(as a dependency), not with every task.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.callbacks import Callback
from tqdm.auto import tqdm

from .blocks import PredictionPlan, block_outputs, task_weights
from .inputs import Layout

__all__ = ["PredictProgress", "KEY_PREFIX", "PLAN_PREFIX", "assemble", "block_slices"]

KEY_PREFIX = "climate-bnnp-predict"
"""Key prefix of the weight and block tasks (the ones :class:`PredictProgress` counts)."""
PLAN_PREFIX = "climate-bnnp-plan"
"""Key prefix of the one key holding the :class:`~.blocks.PredictionPlan` (and its model)."""


def block_slices(
    tds: xr.Dataset, layout: Layout, names: Sequence[str], default_cells: int
) -> list[list[slice]]:
    """Per spatial dim, the slices of the blocks: the dask chunks of the target data when it is chunked,
    otherwise blocks of about ``default_cells`` cells (whole rows of a grid)."""
    chunks: dict[str, tuple[int, ...]] = {}
    for name in names:
        if tds[name].chunks is not None:
            for dim, sizes in zip(tds[name].dims, tds[name].chunks, strict=True):
                chunks.setdefault(dim, sizes)
    out = []
    for i, dim in enumerate(layout.spatial_dims):
        n = tds.sizes[dim]
        if dim in chunks:
            sizes = chunks[dim]
        else:
            other = int(np.prod([tds.sizes[d] for d in layout.spatial_dims[i + 1 :]]))
            step = max(1, default_cells // max(other, 1)) if i == 0 else n
            sizes = tuple(min(step, n - s) for s in range(0, n, step))
        edges = np.cumsum((0,) + tuple(sizes))
        out.append([slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return out


def _nest(items: dict[tuple[int, ...], Any], shape: tuple[int, ...], prefix: tuple[int, ...] = ()) -> list:
    if len(prefix) == len(shape) - 1:
        return [items[prefix + (i,)] for i in range(shape[-1])]
    return [_nest(items, shape, prefix + (i,)) for i in range(shape[len(prefix)])]


def assemble(
    plan: PredictionPlan,
    ctx: xr.Dataset,
    ctx_layout: Layout,
    tds: xr.Dataset,
    layout: Layout,
    tasks: list[dict[str, Any]],
    task_shape: tuple[int, ...],
    blocks: list[list[slice]],
) -> da.Array:
    """The lazy ``(K, *task_shape, *spatial_shape)`` output array.

    Args:
        ctx: context Dataset (target + covariates); tds: target locations with their covariates.
        tasks: per task (in C order over ``task_shape``): ``sel`` (isel indexers), ``seed``, ``time``,
            ``label``.
    """
    token = uuid.uuid4().hex[:12]
    k = plan.num_outputs
    shared_plan = dask.delayed(plan, name=f"{PLAN_PREFIX}-{token}", traverse=False)
    pieces: dict[tuple[int, ...], da.Array] = {}
    for n, (task_index, task) in enumerate(zip(np.ndindex(*task_shape), tasks, strict=True)):
        ctx_t = ctx.isel(task["sel"], missing_dims="ignore")
        weights = dask.delayed(task_weights, pure=False)(
            shared_plan, ctx_t, ctx_layout, seed=task["seed"], time=task["time"], label=task["label"],
            dask_key_name=f"{KEY_PREFIX}-weights-{token}-{n}",
        )  # fmt: skip
        for block_index in np.ndindex(*[len(b) for b in blocks]):
            where = {
                dim: blocks[i][j]
                for i, (dim, j) in enumerate(zip(layout.spatial_dims, block_index, strict=True))
            }
            block = tds.isel(task["sel"], missing_dims="ignore").isel(where)
            shape = tuple(s.stop - s.start for s in where.values())
            out = dask.delayed(block_outputs, pure=False)(
                shared_plan, weights, block, layout, seed=task["seed"], time=task["time"],
                expand=len(task_shape),
                dask_key_name=f"{KEY_PREFIX}-block-{token}-{n}-{'-'.join(map(str, block_index))}",
            )  # fmt: skip
            pieces[task_index + block_index] = da.from_delayed(
                out, shape=(k,) + (1,) * len(task_shape) + shape, dtype=np.float64
            )
    shape = task_shape + tuple(len(b) for b in blocks)
    return da.block(_nest(pieces, shape))


class PredictProgress(Callback):
    """A tqdm progress bar over the weight and block tasks of predictions being computed.

    Example::

        out = climate_bnnp.predict(ckpt, ds_dask)   # lazy
        with PredictProgress():
            out.compute()
    """

    def __init__(self, *, disable: bool = False, desc: str = "predict") -> None:
        super().__init__()
        self.disable, self.desc, self.bar = disable, desc, None

    @staticmethod
    def _ours(key: Any) -> bool:
        name = key[0] if isinstance(key, tuple) else key
        return isinstance(name, str) and name.startswith(KEY_PREFIX)

    def _start_state(self, dsk, state) -> None:
        total = sum(1 for key in dsk if self._ours(key))
        self.bar = tqdm(total=total, desc=self.desc, disable=self.disable or total == 0, leave=False)

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        if self.bar is not None and self._ours(key):
            self.bar.update(1)

    def _finish(self, dsk, state, errored) -> None:
        if self.bar is not None:
            self.bar.close()
