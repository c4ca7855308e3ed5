"""ERA5 task sets: tensors equal hand-built arrays from the store; test protocols; chunked prediction."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

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
from climate_bnnp.tasks.era5_eval import EvalProtocols, build_test_grid, predict_grid, tile_units


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


def _grid(store, **kw):
    schema = Era5TaskSet(store, ["xyz", "t2m"]).schema
    return schema, build_test_grid(store, schema, settings=EvalProtocols(**kw))


def test_test_grid_protocols(tmp_path):
    store = _store(tmp_path, source="cds", n_lat=21, n_lon=29, tile_size=10)  # the paper's area at 0.25 deg
    swiss = country_mask(store.latitude.values, store.longitude.values, "Switzerland")
    assert swiss.sum() >= 10
    kw = dict(context_fraction=(0.025, 0.25), sparse_context_fraction=(0.01, 0.02), gap_size=4, seed=5)
    _, tests = _grid(store, held_out=swiss, **kw)
    assert tests["is_context"].dims == ("task", "latitude", "longitude")
    assert list(tests["protocol"].values) == [
        p for p in ("random", "sparse", "gap", "held_out") for _ in (0, 1)
    ]
    _, again = _grid(store, held_out=swiss, **kw)
    xr.testing.assert_identical(tests, again)  # a fixed, seeded set
    _, no_gap = _grid(store, **(kw | {"gap_size": None}))  # one protocol's draws never move another's
    np.testing.assert_array_equal(no_gap["is_context"].values[:4], tests["is_context"].values[:4])
    valid = tests["tp_truth"].notnull().values
    tile = tests["tile"].values
    for k, protocol in enumerate(tests["protocol"].values):
        context, target = tests["is_context"].values[k], tests["is_target"].values[k]
        assert not (context & target).any() and not (context & ~valid[k]).any()
        for t in np.unique(tile):
            cells = tile == t
            n, nc = int((cells & valid[k]).sum()), int((cells & context).sum())
            square = np.argwhere(cells & target)
            if protocol == "gap":  # a 4 x 4 square (smaller in a smaller edge tile) hidden and scored
                side = min(4, *np.ptp(np.argwhere(cells), axis=0) + 1)
                assert len(square) == side**2 and np.ptp(square, axis=0).tolist() == [side - 1] * 2
                assert 0.025 * n - 1 <= nc <= 0.25 * n
            elif protocol == "held_out":
                assert not (context & swiss).any()  # no context inside the country
                if (cells & swiss).any():
                    assert (target | ~cells | ~valid[k])[swiss].all()  # every Swiss cell is a target
            else:
                low, high = kw["sparse_context_fraction"] if protocol == "sparse" else kw["context_fraction"]
                assert max(1, low * n - 1) <= nc <= max(1, high * n)
                np.testing.assert_array_equal(target[cells], (valid[k] & ~context)[cells])
    with pytest.raises(ValueError, match="held_out mask must have the store's grid shape"):
        _grid(store, held_out=swiss[:-1])
    with pytest.raises(ValueError, match="held-out region has no valid cell"):
        _grid(store, held_out=np.zeros_like(swiss))


def test_predict_grid_equals_predict_on_each_tile(tmp_path):
    """The gridded prediction store holds, tile by tile, exactly what a user's predict call on that tile's
    grid returns (a second route), and NaN where no tile was predicted."""
    store = _store(tmp_path, tile_size=6)
    schema, tests = _grid(store, gap_size=3, seed=1)
    model = BNNP(dim_x=4, dim_y=1, hidden_dims=(8,), inf_hidden_dims=(8,)).double()
    kw = dict(schema=schema, num_samples=3, return_samples=True, predict_at="all")
    calls = []

    def predict_tile(tile, seed):
        calls.append((tile, seed))
        return climate_bnnp.predict(model, tile, seed=seed, **kw)

    out = predict_grid(tests, predict_tile, covariates=["t2m"], dtype="float64", attrs={"method": "m"})
    assert out["mean"].dims == ("task", "latitude", "longitude") and out.attrs["method"] == "m"
    assert out["predictive_samples"].dims == ("sample", "task", "latitude", "longitude")
    units = tile_units(tests)
    assert [seed for _, seed in calls] == list(1 + np.arange(len(units)))
    k, rows, cols = units[-1]
    tile, seed = calls[-1]
    ctx = tests.isel(task=k, latitude=rows, longitude=cols)
    np.testing.assert_array_equal(tile["tp"].notnull().values, ctx["is_context"].values)
    user = climate_bnnp.predict(model, tile, seed=seed, **kw)
    np.testing.assert_array_equal(
        out["quantiles"].isel(task=k, latitude=rows, longitude=cols), user["quantiles"]
    )
    chunked = climate_bnnp.predict(model, tile, seed=seed, chunk_size=4, context_chunk_size=3, **kw)
    np.testing.assert_allclose(chunked["f_normalised"], user["f_normalised"], rtol=1e-9, atol=1e-10)
    predicted = np.zeros(tests["tile"].shape + (tests.sizes["task"],), bool)
    for k, rows, cols in units:
        predicted[rows, cols, k] = True
    assert np.isnan(out["mean"].transpose("latitude", "longitude", "task").values[~predicted]).all()
