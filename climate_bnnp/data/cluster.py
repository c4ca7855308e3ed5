"""Run the data side's dask computations on a ``dask.distributed`` cluster instead of local threads.

Everything in :mod:`climate_bnnp.data` is lazy until a store is written (``write_zarr_atomic``,
``build_task_store``) or a statistic is computed (``fit_input_schema``); those computations use dask's current
scheduler. Inside ``with dask_client(address):`` that is the cluster's scheduler, so ``standardise`` and
``build_tasks`` run on its workers and write the very same stores (the workers read the sources and write the
Zarr chunks themselves: they must see the same file system). ``address=None`` changes nothing: dask's local
threaded scheduler, as without the context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["dask_client"]


@contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """Connect to a ``dask.distributed`` scheduler for the duration of the block.

    Args:
        address: the scheduler's address (``tcp://host:8786``, or a ``LocalCluster``'s
            ``cluster.scheduler_address``), a scheduler file (``*.json``, as ``dask scheduler
            --scheduler-file`` writes it on a cluster), or None for dask's local threaded scheduler.

    Yields:
        The ``distributed.Client`` (None without an address). Dask computations in the block run on it.

    Raises:
        ImportError: when an address is given but ``distributed`` is not installed.
    """
    if address is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - the `cluster` extra installs it
        raise ImportError(
            f"data.dask_scheduler is {address!r}, which needs dask.distributed; install it with "
            "`pip install -e '.[cluster]'` or set data.dask_scheduler: null (local threads)."
        ) from err
    where = {"scheduler_file": address} if address.endswith(".json") else {"address": address}
    with Client(**where, set_as_default=True) as client:
        yield client
