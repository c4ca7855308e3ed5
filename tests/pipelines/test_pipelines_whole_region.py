"""The whole-region config trains on whole maps with the context streamed in K > 1 chunks per layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from climate_bnnp.config import load_config
from climate_bnnp.data import (
    build_task_store,
    fit_input_schema,
    open_sample,
    open_task_store,
    split_times,
    standardise,
)
from climate_bnnp.models import build_model
from climate_bnnp.objectives import OBJECTIVES
from climate_bnnp.tasks import TaskSampler
from climate_bnnp.tasks.era5 import Era5TaskSet, train_source

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_whole_region_config_streams_the_context_in_several_chunks(tmp_path):
    config = load_config(ROOT / "configs" / "sample_global.yaml")
    data, train = config.data, config.train
    assert data.tile_size is None and data.area is None and train.chunk_size is not None
    ds = standardise(open_sample(), source="sample").isel(time=slice(0, 3))  # three whole maps suffice
    split = split_times(ds["time"].values, n_val=1, n_test=1)
    schema = fit_input_schema(ds, data.features, tp_transform=data.tp_transform, times=split["train"])
    path = build_task_store(
        ds[["t2m", "tp"]], tmp_path / "tasks.zarr", tile_size=None, split=split, schema=schema
    )
    taskset = Era5TaskSet(open_task_store(path))
    assert len(taskset.task(taskset.keys("train")[0]).x) == 181 * 360  # one task = the whole map
    sampler = TaskSampler(
        train_source(taskset, subsample_fraction=data.subsample_fraction),
        context_fraction=config.tasks.context_fraction, max_targets=config.tasks.max_targets, seed=train.seed,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model(config.model).double()
    calls = {i: 0 for i in range(len(model.layers))}
    for i, layer in enumerate(model.layers):  # count the chunks each layer's inference network sees
        original = layer.pseudo_observations

        def counted(*args, _i=i, _f=original, **kw):
            calls[_i] += 1
            return _f(*args, **kw)

        layer.pseudo_observations = counted
    batch = sampler.sample(1)  # one whole-map task (the config trains on batch_size of them)
    num_context = int(batch.xc.shape[1])
    expected_chunks = -(-num_context // train.chunk_size)
    assert expected_chunks > 1
    value = OBJECTIVES[train.objective](
        model, batch, num_samples=train.num_samples, beta=1.0, chunk_size=train.chunk_size
    )
    (-value.mean()).backward()
    assert all(count == expected_chunks for count in calls.values()), (calls, expected_chunks)
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert np.isfinite(float(value.detach().mean()))
