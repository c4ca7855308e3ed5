"""dask.distributed for the data side: `standardise` and `build_tasks` on a LocalCluster of worker processes
write the same stores as dask's local threaded scheduler."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from climate_bnnp.config import ConfigError, DataConfig
from climate_bnnp.data import dask_client

distributed = pytest.importorskip("distributed", reason="the `cluster` extra is not installed")

from helpers.stores import task_store  # noqa: E402  (tests/ is on sys.path, see tests/conftest.py)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


def _stores(tmp: Path, scheduler: str | None) -> tuple[Path, Path]:
    """download -> standardise -> build_tasks on a crop of the bundled sample, with ``scheduler``."""
    _, std, store = task_store(tmp, data={"tile_size": 6, "dask_scheduler": scheduler})
    return std, store


def test_standardise_and_build_tasks_on_a_local_cluster_write_identical_stores(tmp_path, cluster):
    (tmp_path / "local").mkdir(), (tmp_path / "cluster").mkdir()
    local = _stores(tmp_path / "local", None)
    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as stream:
        on_cluster = _stores(tmp_path / "cluster", cluster.scheduler_address)
    assert len(stream.data) > 10  # the workers did the computing
    assert {t["worker"] for t in stream.data} <= set(cluster.scheduler_info["workers"])
    for a, b in zip(local, on_cluster, strict=True):
        ds_a, ds_b = xr.open_zarr(a, consolidated=False), xr.open_zarr(b, consolidated=False)
        assert ds_a.chunks == ds_b.chunks
        xr.testing.assert_identical(ds_a.load(), ds_b.load())  # values (bitwise, NaN == NaN), coords, attrs
    store = xr.open_zarr(on_cluster[1], consolidated=False)
    assert "dask_scheduler" not in store.attrs["data_config"]  # where it was computed is not part of a store


def test_without_an_address_nothing_changes():
    with dask_client(None) as client:
        assert client is None


def test_dask_scheduler_is_validated():
    assert DataConfig(dask_scheduler="tcp://10.0.0.1:8786").dask_scheduler == "tcp://10.0.0.1:8786"
    assert DataConfig(dask_scheduler="/scratch/scheduler.json").dask_scheduler.endswith(".json")
    with pytest.raises(ConfigError, match=r"data.dask_scheduler: got 'localhost'; expected a scheduler"):
        DataConfig(dask_scheduler="localhost")
