"""ERA5 task sets: tensors equal hand-built arrays from the store; test protocols; chunked prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climate_bnnp.data import (
    build_task_store,
    country_mask,
    fit_normaliser,
    mock_era5,
    open_task_store,
    split_times,
    standardise,
)
from climate_bnnp.models import BNNP
from climate_bnnp.tasks import TaskSampler
from climate_bnnp.tasks.era5 import Era5TaskSet, feature_dim, train_source
from climate_bnnp.tasks.era5_eval import build_test_tasks, predict_samples
from climate_bnnp.tasks.era5_outputs import predictions_dataset


def _store(tmp_path, *, source="sample", tile_size=None, tp_transform="none", n_lat=10, n_lon=12, **kw):
    raw = mock_era5(n_time=8, n_lat=n_lat, n_lon=n_lon, source=source, seed=3, **kw)
    ds = standardise(raw, source="sample" if source == "sample" else "reanalysis-era5-land")
    split = split_times(ds["time"].values, n_val=1, n_test=2)
    names = [v for v in ("t2m", "u10", "v10", "msl", "tp") if v in ds]
    norm = fit_normaliser(ds, names, tp_transform=tp_transform, times=split["train"])
    path = build_task_store(ds, tmp_path / "tasks.zarr", tile_size=tile_size, split=split, normaliser=norm)
    return open_task_store(path)


def test_task_equals_hand_built_arrays(tmp_path):
    store = _store(tmp_path, tile_size=5)
    taskset = Era5TaskSet(store, ["lon", "lat", "xyz", "t2m", "msl", "hour", "season"])
    assert taskset.dim_x == 1 + 1 + 3 + 1 + 1 + 2 + 2 == feature_dim(taskset.features)
    norm = taskset.normaliser
    task = taskset.task((6, 1, 2))  # time 6, rows 5..9, cols 10..11
    tile = store.isel(time=6, latitude=slice(5, 10), longitude=slice(10, 12)).load()
    lat2d, lon2d = np.meshgrid(tile.latitude.values, tile.longitude.values, indexing="ij")
    all_lat, all_lon = store.latitude.values, store.longitude.values
    hour = float(tile.time.dt.hour) + float(tile.time.dt.minute) / 60
    doy = float(tile.time.dt.dayofyear)
    phi, lam = np.deg2rad(lat2d), np.deg2rad(lon2d)
    expected = np.stack(
        [
            (lon2d - all_lon.mean()) / all_lon.std(),
            (lat2d - all_lat.mean()) / all_lat.std(),
            np.cos(phi) * np.cos(lam),
            np.cos(phi) * np.sin(lam),
            np.sin(phi),
            (tile.t2m.values.astype(np.float64) - norm.mean["t2m"]) / norm.std["t2m"],
            (tile.msl.values.astype(np.float64) - norm.mean["msl"]) / norm.std["msl"],
            np.full(lat2d.shape, np.sin(2 * np.pi * hour / 24)),
            np.full(lat2d.shape, np.cos(2 * np.pi * hour / 24)),
            np.full(lat2d.shape, np.sin(2 * np.pi * (doy - 1) / 365.25)),
            np.full(lat2d.shape, np.cos(2 * np.pi * (doy - 1) / 365.25)),
        ],
        axis=-1,
    ).reshape(-1, 11)
    np.testing.assert_allclose(task.x, expected, rtol=1e-10, atol=1e-10)
    y = (tile.tp.values.astype(np.float64).ravel() - norm.mean["tp"]) / norm.std["tp"]
    np.testing.assert_allclose(task.y[:, 0], y, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(task.x[:, 2:5], axis=1), 1.0, atol=1e-12)
    assert set(task.rows) == set(range(5, 10)) and set(task.cols) == {10, 11}
    np.testing.assert_array_equal(all_lat[task.rows], task.lat)


def test_log1p_target_and_nan_cells_dropped(tmp_path):
    store = _store(tmp_path, source="cds", tp_transform="log1p", n_lat=11, n_lon=15)
    taskset = Era5TaskSet(store, ["lon", "lat", "t2m"])
    task = taskset.task((0, 0, 0))
    raw = store.isel(time=0).load()
    finite = np.isfinite(raw.tp.values) & np.isfinite(raw.t2m.values)
    assert 0 < len(task.x) == finite.sum() < finite.size  # the mock's "sea" corner is dropped
    norm = taskset.normaliser
    expected = (np.log1p(raw.tp.values[finite].astype(np.float64)) - norm.mean["tp"]) / norm.std["tp"]
    np.testing.assert_allclose(task.y[:, 0], expected, rtol=1e-6)
    assert np.isfinite(task.x).all()
    np.testing.assert_allclose(norm.inverse("tp", task.y[:, 0]), task.tp_mm, rtol=1e-5, atol=1e-7)


def test_unknown_or_missing_features_are_rejected(tmp_path):
    store = _store(tmp_path, source="cds")
    with pytest.raises(ValueError, match="features must be distinct names"):
        Era5TaskSet(store, ["lon", "elevation"])
    with pytest.raises(ValueError, match=r"need store variables \['u10'\]"):
        Era5TaskSet(store, ["lon", "u10"])


def test_train_source_subsamples_train_tasks(tmp_path):
    store = _store(tmp_path, tile_size=5)
    taskset = Era5TaskSet(store, ["xyz", "t2m"])
    train_times = set(store.attrs["split"]["train"])
    source = train_source(taskset, subsample_fraction=0.4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = source(rng)
        matches = [
            k
            for k in taskset.keys("train")
            if len(taskset.task(k).x) and round(0.4 * len(taskset.task(k).x)) == len(x)
        ]
        assert matches
        rows = {tuple(r) for k in matches for r in np.c_[taskset.task(k).x, taskset.task(k).y]}
        assert all(tuple(r) in rows for r in np.c_[x, y])  # a subset of one train task's cells
    assert {k.time for k in taskset.keys("train")} == train_times
    batch = TaskSampler(source, context_fraction=(0.2, 0.3), seed=1).sample(3)
    assert batch.xc.shape[0] == 3 and batch.xc.shape[-1] == 4 and batch.yt.shape[-1] == 1
    with pytest.raises(ValueError, match=r"subsample_fraction must lie in \(0, 1\]"):
        train_source(taskset, subsample_fraction=0.0)


def test_test_tasks_random_and_held_out(tmp_path):
    store = _store(tmp_path, source="cds", n_lat=21, n_lon=29)  # the paper's area at 0.25 deg
    taskset = Era5TaskSet(store, ["lon", "lat", "t2m"])
    swiss = country_mask(store.latitude.values, store.longitude.values, "Switzerland")
    assert swiss.sum() >= 10
    tests = build_test_tasks(taskset, context_fraction=(0.025, 0.25), seed=5, held_out=swiss)
    again = build_test_tasks(taskset, context_fraction=(0.025, 0.25), seed=5, held_out=swiss)
    assert [t.protocol for t in tests] == ["random"] * 2 + ["held_out"] * 2
    for a, b in zip(tests, again, strict=True):  # a fixed, seeded set
        np.testing.assert_array_equal(a.context, b.context)
    for t in tests:
        n = len(t.task.x)
        assert np.array_equal(np.sort(np.r_[t.context, t.target]), np.arange(n))
        assert 0.025 * n - 1 <= len(t.context) <= 0.25 * n
        inside = swiss[t.task.rows, t.task.cols]
        if t.protocol == "held_out":
            assert not inside[t.context].any()  # no context inside the country
            assert set(np.flatnonzero(inside)) <= set(t.target)  # every Swiss cell is a target
    with pytest.raises(ValueError, match="held_out mask must have the store's grid shape"):
        build_test_tasks(taskset, held_out=swiss[:-1])
    with pytest.raises(ValueError, match="held-out region has no valid cell"):
        build_test_tasks(taskset, held_out=np.zeros_like(swiss))


def test_predict_samples_chunked_equals_full_and_dataset_scatter(tmp_path):
    store = _store(tmp_path, tile_size=6)
    taskset = Era5TaskSet(store, ["xyz", "t2m"])
    tests = build_test_tasks(taskset, context_fraction=(0.2, 0.3), seed=0)
    model = BNNP(dim_x=4, dim_y=1, hidden_dims=(8,), inf_hidden_dims=(8,)).double()
    t = tests[0]
    torch.manual_seed(7)
    full = predict_samples(model, t.xc, t.yc, t.task.x, num_samples=3)
    torch.manual_seed(7)
    chunked = predict_samples(model, t.xc, t.yc, t.task.x, num_samples=3, chunk_size=4)
    assert full.shape == (3, len(t.task.x), 1)
    np.testing.assert_allclose(chunked, full, rtol=1e-9, atol=1e-10)

    samples = [np.random.default_rng(i).gamma(1.0, 1.0, (5, len(s.task.x))) for i, s in enumerate(tests)]
    ds = predictions_dataset(taskset, tests, samples, [{"ppd": float(i)} for i in range(len(tests))])
    for i, (s, obs) in enumerate(zip(tests, samples, strict=True)):
        task = ds.isel(task=i)
        np.testing.assert_allclose(task["mean"].values[s.task.rows, s.task.cols], obs.mean(0), rtol=1e-6)
        np.testing.assert_allclose(task["truth"].values[s.task.rows, s.task.cols], s.task.tp_mm, rtol=1e-6)
        np.testing.assert_allclose(task["samples"].values[1, s.task.rows, s.task.cols], obs[1], rtol=1e-6)
        ctx = task["is_context"].values
        assert ctx.sum() == len(s.context) and ctx[s.task.rows[s.context], s.task.cols[s.context]].all()
        assert int(task["num_target"]) == len(s.target) and float(task["ppd"]) == i
    covered = ds["truth"].notnull().sum("task").values
    assert (covered == 2).all()  # two test times, each tile predicted once per time
