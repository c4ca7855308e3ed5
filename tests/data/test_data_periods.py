"""Precipitation periods: ERA5-Land accumulations -> 12-hour totals, checked against numbers worked out by
hand, on real files in the new CDS format (a ZIP archive named .nc holding an accum and an instant netCDF,
``valid_time``, ``expver``, ``number``, latitude descending, NaN sea cells)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback
from fake_cds import FakeCDSClient

from climate_bnnp.config import ConfigError, DataConfig
from climate_bnnp.data import CDSRequest, download, mock_era5, open_cds_files, open_sample, standardise
from climate_bnnp.data.cds_files import is_zip

LAND = "reanalysis-era5-land"
CELL_A = (47.0, 7.0)  # (latitude, longitude)
CELL_B = (46.5, 8.0)
SEA = (46.0, 6.0)  # the fake's NaN "sea" corner (last raw row = southernmost, first column)

# Hand-written ERA5-Land accumulations since 00 UTC, in metres, at two cells:
# 00Z is the previous day's 24 h total, 12Z the 00..12 UTC total of the same day.
PLANTED = {
    CELL_A: {
        "2019-12-01T00": 0.0200,  # first step: no preceding 12Z -> dropped
        "2019-12-01T12": 0.0030,
        "2019-12-02T00": 0.0075,
        "2019-12-02T12": 0.0000,
        "2019-12-03T00": 0.0012,
        "2019-12-03T12": 0.0051,
    },
    CELL_B: {
        "2019-12-01T00": 0.0000,
        "2019-12-01T12": 0.0040,
        "2019-12-02T00": 0.0039999,  # a tiny negative difference (-0.0001 mm) -> 0
        "2019-12-02T12": 0.0100,
        "2019-12-03T00": 0.0100,  # no rain 12-24 UTC -> exactly 0
        "2019-12-03T12": 0.0025,
    },
}
# The 12-hour totals ending at 01T12, 02T00, 02T12, 03T00, 03T12, in mm, worked out by hand:
# 12Z as it is; 00Z(day d) - 12Z(day d-1).
EXPECTED_MM = {
    CELL_A: [3.0, 7.5 - 3.0, 0.0, 1.2 - 0.0, 5.1],
    CELL_B: [4.0, 0.0, 10.0, 0.0, 2.5],
}
KEPT = ["2019-12-01T12", "2019-12-02T00", "2019-12-02T12", "2019-12-03T00", "2019-12-03T12"]


class PlantedCDSClient(FakeCDSClient):
    """The fake CDS client, with hand-written ``tp`` accumulations at chosen cells; records whether each
    delivery really was a ZIP archive."""

    def __init__(self, planted: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.planted = planted
        self.delivered_zip: list[bool] = []

    def dataset(self, request):
        ds = super().dataset(request)
        tp = ds["tp"].values.copy()  # (valid_time, latitude, longitude), latitude descending
        times = ds["valid_time"].values
        for (lat, lon), series in self.planted.items():
            i = int(np.flatnonzero(np.isclose(ds["latitude"].values, lat))[0])
            j = int(np.flatnonzero(np.isclose(ds["longitude"].values, lon))[0])
            for stamp, value in series.items():
                hit = np.flatnonzero(times == np.datetime64(stamp, "ns"))
                if hit.size:
                    tp[hit[0], i, j] = value
        ds["tp"] = ds["tp"].copy(data=tp)
        return ds

    def retrieve(self, name, request, target):
        out = super().retrieve(name, request, target)
        self.delivered_zip.append(is_zip(target))  # before download() unpacks it
        return out


def _request(**kwargs) -> CDSRequest:
    base = {"years": (2019,), "months": (12,), "days": ("01", "02", "03"), "area": (47, 6, 46, 8)}
    return CDSRequest(**(base | {"grid": (0.5, 0.5)} | kwargs))


def _download(tmp_path, request: CDSRequest, planted: dict, zip_on) -> xr.Dataset:
    fake = PlantedCDSClient(planted, zip_on=zip_on)
    paths = download(request, tmp_path / "raw", client=fake, retries=0)
    assert any(fake.delivered_zip)  # the fake really delivered a ZIP archive under the .nc name
    return open_cds_files(paths)


@pytest.fixture()
def land_raw(tmp_path):
    raw = _download(tmp_path, _request(), PLANTED, zip_on={(2019, 12)})
    yield raw
    raw.close()


def _at(ds: xr.Dataset, cell: tuple[float, float]) -> np.ndarray:
    return ds["tp"].sel(latitude=cell[0], longitude=cell[1]).values


def test_the_raw_file_is_the_new_cds_format(land_raw):
    assert "valid_time" in land_raw.dims and {"expver", "number"} <= set(land_raw.coords)
    assert np.all(np.diff(land_raw["latitude"].values) < 0)  # latitude descending
    assert land_raw["tp"].attrs["units"] == "m" and land_raw["valid_time"].size == 6
    assert np.isnan(land_raw["tp"].sel(latitude=SEA[0], longitude=SEA[1]).values).all()


def test_era5land_zip_becomes_12_hour_totals_worked_by_hand(land_raw):
    out = standardise(land_raw, source=LAND)
    assert out["tp"].chunks is not None  # still lazy
    np.testing.assert_array_equal(out["time"].values, np.array(KEPT, dtype="datetime64[ns]"))
    for cell, expected in EXPECTED_MM.items():
        np.testing.assert_allclose(_at(out, cell), expected, rtol=1e-5, atol=1e-5)
    assert _at(out, CELL_B)[1] == 0.0 and _at(out, CELL_B)[3] == 0.0  # clipped / exact zero, not -0.0001
    assert np.isnan(_at(out, SEA)).all()
    values = out["tp"].values
    assert np.nanmin(values) >= 0.0 and np.isnan(values).sum() == out.sizes["time"]  # only the sea cell
    # the other variables follow the kept times
    raw_t2m = land_raw["t2m"].isel(valid_time=slice(1, None), latitude=slice(None, None, -1)).values
    np.testing.assert_allclose(out["t2m"].values, raw_t2m - 273.15, rtol=1e-6, atol=1e-4)


def test_period_recorded_everywhere(land_raw):
    out = standardise(land_raw, source=LAND)
    assert out.attrs["tp_period_hours"] == 12 and out["tp"].attrs["period_hours"] == 12
    assert out["tp_period_hours"].values.tolist() == [12] * 5
    assert out.attrs["tp_dropped_times"] == "2019-12-01T00:00:00"
    assert out.attrs["tp_periods"] == "consistent" and "12-hour total" in out.attrs["tp_accumulation"]


def test_period_survives_zarr_round_trip(land_raw, tmp_path):
    from climate_bnnp.data import write_zarr_atomic

    out = standardise(land_raw, source=LAND).chunk({"time": 1, "latitude": -1, "longitude": -1})
    for name in out.variables:
        out[name].encoding = {}
    back = xr.open_zarr(write_zarr_atomic(out, tmp_path / "std.zarr"), consolidated=False)
    assert back.attrs["tp_period_hours"] == 12 and back["tp"].attrs["period_hours"] == 12
    np.testing.assert_allclose(_at(back, CELL_A), EXPECTED_MM[CELL_A], rtol=1e-5, atol=1e-5)


def test_raw_mode_keeps_raw_values_and_records_mixed(land_raw):
    out = standardise(land_raw, source=LAND, tp_periods="raw_mixed_as_paper")
    assert out.sizes["time"] == 6  # nothing dropped
    np.testing.assert_allclose(_at(out, CELL_A), [20.0, 3.0, 7.5, 0.0, 1.2, 5.1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_at(out, CELL_B), [0.0, 4.0, 3.9999, 10.0, 10.0, 2.5], rtol=1e-5, atol=1e-5)
    assert out.attrs["tp_period_hours"] == "mixed" and out["tp"].attrs["period_hours"] == "mixed"
    assert out["tp_period_hours"].values.tolist() == [24, 12, 24, 12, 24, 12]
    assert out.attrs["tp_periods"] == "raw_mixed_as_paper" and "MIXED" in out.attrs["tp_accumulation"]
    assert "tp_dropped_times" not in out.attrs


def test_month_boundary_across_files_and_gaps(tmp_path):
    """00Z on 1 Dec minus 12Z on 30 Nov (another file); steps after a gap in the days are dropped."""
    planted = {CELL_A: {"2019-11-30T12": 0.0020, "2019-12-01T00": 0.0050, "2019-12-01T12": 0.0007}}
    request = _request(months=(11, 12), days=("01", "30"))
    raw = _download(tmp_path, request, planted, zip_on={(2019, 11)})
    out = standardise(raw, source=LAND)
    kept = ["2019-11-01T12", "2019-11-30T12", "2019-12-01T00", "2019-12-01T12", "2019-12-30T12"]
    np.testing.assert_array_equal(out["time"].values, np.array(kept, dtype="datetime64[ns]"))
    assert out.attrs["tp_dropped_times"] == "2019-11-01T00:00:00, 2019-11-30T00:00:00, 2019-12-30T00:00:00"
    np.testing.assert_allclose(_at(out, CELL_A)[1:4], [2.0, 5.0 - 2.0, 0.7], rtol=1e-5, atol=1e-5)
    raw.close()


def _land(times: list[str], series_mm: list[float]) -> xr.Dataset:
    """A raw new-CDS ERA5-Land dataset whose tp at cell (0, 0) (raw order) is ``series_mm`` (mm)."""
    raw = mock_era5(n_time=0, n_lat=3, n_lon=3, source="cds", times=np.array(times, dtype="datetime64[ns]"))
    tp = raw["tp"].values.copy()
    tp[:, 0, 0] = np.asarray(series_mm) / 1000.0
    return raw.assign(tp=raw["tp"].copy(data=tp))


def _cell(out: xr.Dataset) -> np.ndarray:
    return out["tp"].isel(latitude=-1, longitude=0).values  # raw (0, 0): latitude descends in the raw file


def test_six_hourly_and_daily_data_generalise():
    times = ["2019-12-01T00", "2019-12-01T06", "2019-12-01T12", "2019-12-01T18", "2019-12-02T00"]
    out = standardise(_land(times, [9.0, 1.0, 3.0, 3.5, 6.0]), source=LAND)
    assert out.attrs["tp_period_hours"] == 6 and out.sizes["time"] == 4
    # 06Z as is; 12Z - 06Z; 18Z - 12Z; 00Z (24 h total) - previous 18Z
    np.testing.assert_allclose(_cell(out), [1.0, 2.0, 0.5, 2.5], rtol=1e-5)
    daily = standardise(_land(["2019-12-01T00", "2019-12-02T00"], [4.0, 2.0]), source=LAND)
    assert daily.attrs["tp_period_hours"] == 24 and daily.attrs["tp_dropped_times"] == "none"
    np.testing.assert_allclose(_cell(daily), [4.0, 2.0], rtol=1e-5)  # 00Z: already the 24 h total


def test_first_step_at_12_utc_is_kept():
    out = standardise(_land(["2019-12-01T12", "2019-12-02T00"], [3.0, 5.0]), source=LAND)
    np.testing.assert_allclose(_cell(out), [3.0, 2.0], rtol=1e-5)
    assert out.attrs["tp_dropped_times"] == "none"


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (["2019-12-01T00", "2019-12-01T06", "2019-12-01T12"], r"got hours \['00', '06', '12'\] UTC"),
        (["2019-12-01T06", "2019-12-01T18"], r"got hours \['06', '18'\] UTC.*raw_mixed_as_paper"),
        (["2019-12-01T00:30", "2019-12-01T12:30"], r"must be on the hour; got \['2019-12-01 00:30:00'"),
    ],
)
def test_unsupported_hours_are_rejected_with_a_clear_message(times, message):
    raw = _land(times, [1.0] * len(times))
    with pytest.raises(ValueError, match=message):
        standardise(raw, source=LAND)
    assert standardise(raw, source=LAND, tp_periods="raw_mixed_as_paper").attrs["tp_period_hours"] == "mixed"


def test_lone_00_utc_step_is_a_24_hour_total():
    out = standardise(_land(["2019-12-01T00"], [1.5]), source=LAND)  # hours {00}: daily totals, as is
    assert out.attrs["tp_period_hours"] == 24 and out.sizes["time"] == 1
    np.testing.assert_allclose(_cell(out), [1.5], rtol=1e-6)


def test_single_levels_keep_hourly_totals(sample_std):
    raw = open_sample()
    for mode in ("consistent", "raw_mixed_as_paper"):
        out = sample_std if mode == "consistent" else standardise(raw, source="sample", tp_periods=mode)
        assert out.attrs["tp_period_hours"] == 1 and out["tp"].attrs["period_hours"] == 1
        assert out.sizes["time"] == 24 and np.all(out["tp_period_hours"].values == 1)
        assert "tp_dropped_times" not in out.attrs
    # values are the raw hourly totals in mm (raw 350 E, 40 N -> -10, 40)
    got = sample_std["tp"].sel(longitude=-10.0, latitude=40.0).values
    want = raw["tp"].sel(longitude=350.0, latitude=40.0).values * 1000.0
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    mock = mock_era5(n_time=3, n_lat=3, n_lon=4, source="sample")
    single = standardise(mock, source="reanalysis-era5-single-levels")
    assert single.attrs["tp_period_hours"] == 1 and single.sizes["time"] == 3


def test_standardise_computes_nothing(land_raw):
    class Count(Callback):
        n = 0

        def _pretask(self, key, dsk, state):
            Count.n += 1

    with Count():
        out = standardise(land_raw, source=LAND)
    assert Count.n == 0 and out["tp"].chunks[0] == (1,) * 5


def test_tp_periods_option_is_validated():
    with pytest.raises(ValueError, match=r"Unknown tp_periods 'raw': expected one of \('consistent', "):
        standardise(mock_era5(n_time=2, n_lat=3, n_lon=3, source="cds"), source=LAND, tp_periods="raw")
    assert DataConfig().tp_periods == "consistent"
    assert DataConfig(tp_periods="raw_mixed_as_paper").tp_periods == "raw_mixed_as_paper"
    with pytest.raises(ConfigError, match=r"data.tp_periods: got 'mixed'; expected 'consistent'"):
        DataConfig(tp_periods="mixed")
