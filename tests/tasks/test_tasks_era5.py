"""ERA5 task sets: tensors equal hand-built arrays from the store; test protocols; chunked prediction."""

from __future__ import annotations

import numpy as np
import pytest

import climate_bnnp
from climate_bnnp.data import (
    build_task_store,
    country_mask,
    feature_dim,
    fit_input_schema,
    mock_era5,
    open_task_store,
    split_times,
    standardise,
)
from climate_bnnp.models import BNNP
from climate_bnnp.tasks import TaskSampler
from climate_bnnp.tasks.era5 import Era5TaskSet, train_source
from climate_bnnp.tasks.era5_eval import build_test_tasks, prediction_store


def _store(tmp_path, *, source="sample", tile_size=None, tp_transform="none", n_lat=10, n_lon=12, **kw):
    raw = mock_era5(n_time=8, n_lat=n_lat, n_lon=n_lon, source=source, seed=3, **kw)
    ds = standardise(raw, source="sample" if source == "sample" else "reanalysis-era5-land")
    split = split_times(ds["time"].values, n_val=1, n_test=2)
    names = [v for v in ("t2m", "u10", "v10", "msl") if v in ds]
    schema = fit_input_schema(ds, ["xyz", *names], tp_transform=tp_transform, times=split["train"])
    path = build_task_store(ds, tmp_path / "tasks.zarr", tile_size=tile_size, split=split, schema=schema)
    return open_task_store(path)


def test_task_equals_hand_built_arrays(tmp_path):
    store = _store(tmp_path, tile_size=5)
    taskset = Era5TaskSet(store, ["lon", "lat", "xyz", "t2m", "msl", "hour", "season"])
    assert taskset.dim_x == 1 + 1 + 3 + 1 + 1 + 2 + 2 == feature_dim(taskset.features)
    norm = taskset.schema.normaliser
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
    norm = taskset.schema.normaliser
    expected = (np.log1p(raw.tp.values[finite].astype(np.float64)) - norm.mean["tp"]) / norm.std["tp"]
    np.testing.assert_allclose(task.y[:, 0], expected, rtol=1e-6)
    assert np.isfinite(task.x).all()
    np.testing.assert_allclose(norm.inverse("tp", task.y[:, 0]), task.tp_mm, rtol=1e-5, atol=1e-7)


def test_unknown_or_missing_features_are_rejected(tmp_path):
    store = _store(tmp_path, source="cds")
    with pytest.raises(ValueError, match="features must be distinct names"):
        Era5TaskSet(store, ["lon", "elevation"])
    with pytest.raises(ValueError, match=r"the normaliser has no statistics for \['u10'\]"):
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


def test_test_task_dataset_predicts_through_predict_and_store_keeps_task_cells(tmp_path):
    store = _store(tmp_path, tile_size=6)
    taskset = Era5TaskSet(store, ["xyz", "t2m"])
    tests = build_test_tasks(taskset, context_fraction=(0.2, 0.3), seed=0)
    t = tests[0]
    ds = t.dataset()
    assert ds["tp"].isnull().sum() == len(t.target) and ds["tp"].attrs["units"] == "mm"
    np.testing.assert_array_equal(ds["tp_truth"].values, t.task.tp_mm)
    model = BNNP(dim_x=4, dim_y=1, hidden_dims=(8,), inf_hidden_dims=(8,)).double()
    kw = dict(schema=taskset.schema, num_samples=3, return_samples=True, predict_at="all", seed=2)
    full = climate_bnnp.predict(model, ds[["tp", "t2m"]], **kw)
    chunked = climate_bnnp.predict(model, ds[["tp", "t2m"]], chunk_size=4, context_chunk_size=3, **kw)
    np.testing.assert_allclose(chunked["f_normalised"], full["f_normalised"], rtol=1e-9, atol=1e-10)

    preds = [full] + [climate_bnnp.predict(model, s.dataset()[["tp", "t2m"]], **kw) for s in tests[1:]]
    out = prediction_store(tests, preds, seed=5)
    assert out.sizes["cell"] == sum(len(s.task.x) for s in tests) and out.sizes["task_index"] == len(tests)
    for i, s in enumerate(tests):
        cells = out.isel(cell=np.flatnonzero(out["task"].values == i))
        np.testing.assert_allclose(cells["tp_truth"].values, s.task.tp_mm)
        np.testing.assert_allclose(cells["mean"].values, preds[i]["mean"].values)
        assert int(cells["is_context"].sum()) == len(s.context) == int(out["num_context"][i])
    assert list(out["seed"].values) == list(5 + np.arange(len(tests)))
