"""predict() on a dask.distributed cluster and on a chosen device.

Oracle: the same call computed in this process (synchronous scheduler, the model's own device).
"""

from __future__ import annotations

import copy
import pickle

import dask
import numpy as np
import pytest
import torch
import xarray as xr
from pred_helpers import schema_of

import climate_bnnp
from climate_bnnp.prediction.blocks import PredictionPlan
from climate_bnnp.prediction.graph import PLAN_PREFIX

OPTS = dict(num_samples=6, seed=3, chunk_size=20, return_samples=True)


def _assert_same(a: xr.Dataset, b: xr.Dataset, atol: float) -> None:
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=0, atol=atol, equal_nan=True)


def test_graph_holds_the_model_once(model, normaliser, grid):
    """One key holds the plan; every weight and block task refers to it instead of carrying the model."""
    lazy = climate_bnnp.predict(
        model, grid.chunk({"latitude": 3}), schema=schema_of(normaliser), **OPTS
    )  # 2 tasks x 3 blocks
    graph = dict(lazy["mean"].data.__dask_graph__())
    model_bytes = len(pickle.dumps(model))
    heavy = [key for key, task in graph.items() if len(pickle.dumps(task)) > model_bytes // 2]
    assert len(heavy) == 1 and str(heavy[0]).startswith(PLAN_PREFIX)
    assert isinstance(graph[heavy[0]].value, PredictionPlan)
    users = [
        k for k, t in graph.items() if "predict" in str(k) and heavy[0] in getattr(t, "dependencies", ())
    ]
    assert len(users) == 2 + 2 * 3  # every weight and block task depends on the one plan key


def test_local_cluster_matches_local_threads(model, normaliser, grid):
    distributed = pytest.importorskip("distributed")
    schema = schema_of(normaliser)
    expected = climate_bnnp.predict(model, grid, schema=schema, **OPTS)
    lazy_grid = grid.chunk({"latitude": 4})
    with (
        dask.config.set({"distributed.worker.multiprocessing-method": "fork"}),  # no re-import: seconds
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        by_client = climate_bnnp.predict(model, lazy_grid, schema=schema, scheduler=client, **OPTS)
        by_address = climate_bnnp.predict(
            model, grid, schema=schema, scheduler=cluster.scheduler_address, **OPTS
        )
        computed_on_active_client = climate_bnnp.predict(model, lazy_grid, schema=schema, **OPTS).compute()
    for got in (by_client, by_address, computed_on_active_client):
        assert got["mean"].chunks is None
        _assert_same(got, expected, atol=1e-12)


def test_device_cpu_equals_the_default(model, normaliser, grid):
    schema = schema_of(normaliser)
    _assert_same(
        climate_bnnp.predict(model, grid, schema=schema, device="cpu", **OPTS),
        climate_bnnp.predict(model, grid, schema=schema, **OPTS),
        atol=0.0,
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_without_cuda_is_a_clear_error(model, normaliser, grid):
    with pytest.raises(ValueError, match=r"device='cuda'.*CUDA is not available.*'cpu' or 'auto'"):
        climate_bnnp.predict(model, grid, schema=schema_of(normaliser), device="cuda", **OPTS)


def test_unknown_device_is_a_clear_error(model, normaliser, grid):
    with pytest.raises(ValueError, match="device='gpu'"):
        climate_bnnp.predict(model, grid, schema=schema_of(normaliser), device="gpu", **OPTS)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu_in_float64(model, normaliser, grid):
    """Same draws, same numbers: the CUDA generator's draws differ from the CPU's, so the CPU draws are
    decoded on both devices; a whole predict() on CUDA must run and stay on the host."""
    from climate_bnnp.prediction.engine import decode_points, sample_task_weights

    on_cuda = climate_bnnp.predict(model, grid, schema=schema_of(normaliser), device="cuda", **OPTS)
    assert next(model.parameters()).device.type == "cpu"  # the caller's model was not moved
    assert isinstance(on_cuda["mean"].values, np.ndarray)
    assert np.isfinite(on_cuda["mean"].values[np.isnan(grid["tp"].values)]).all()
    rng = np.random.default_rng(0)
    xc, yc, xt = rng.normal(size=(50, 4)), rng.normal(size=50), rng.normal(size=(70, 4))
    weights = sample_task_weights(model, xc, yc, num_samples=4, seed=0, context_chunk_size=16)
    cuda_model = copy.deepcopy(model).cuda()
    cuda_weights = sample_task_weights(cuda_model, xc, yc, num_samples=4, seed=0, context_chunk_size=16)
    f_cpu = decode_points(model, weights, xt, chunk_size=32)
    f_cuda = decode_points(cuda_model, [w.cuda() for w in weights], xt, chunk_size=32)
    np.testing.assert_allclose(f_cuda, f_cpu, rtol=0, atol=1e-6)
    assert all(w.is_cuda and w.dtype == torch.float64 for w in cuda_weights)
