import numpy as np
import pytest
import xarray as xr

from climate_bnnp.data import CANONICAL_DIMS, ERA5_LAND_ATTRIBUTION, mock_era5, standardise


def schema(ds: xr.Dataset) -> dict:
    return {
        name: (ds[name].dims, ds[name].dtype, tuple(sorted(ds[name].attrs)), ds[name].attrs.get("units"))
        for name in ("t2m", "tp", "tp_period_hours")
    }


def check_canonical(ds: xr.Dataset) -> None:
    assert tuple(ds.dims) == CANONICAL_DIMS or set(ds.dims) == set(CANONICAL_DIMS)
    for name in ("t2m", "tp"):
        assert ds[name].dims == CANONICAL_DIMS and ds[name].dtype == np.float32
    lat, lon = ds["latitude"].values, ds["longitude"].values
    assert np.all(np.diff(lat) > 0) and np.all(np.diff(lon) > 0)
    assert lon.min() >= -180 and lon.max() < 180
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert not {"number", "expver", "valid_time", "time_index"} & set(ds.variables)


def test_sample_and_cds_file_share_one_schema(sample_std, cds_raw):
    cds = standardise(cds_raw, source="reanalysis-era5-land")
    check_canonical(sample_std)
    check_canonical(cds)
    assert schema(sample_std) == schema(cds)
    assert sample_std["t2m"].attrs["units"] == "degC" and cds["tp"].attrs["units"] == "mm"
    assert sample_std["t2m"].chunks is not None  # still lazy
    assert {"u10", "v10", "msl"} <= set(sample_std.data_vars) and sample_std["msl"].attrs["units"] == "hPa"


def test_units_converted_and_grid_reordered(cds_raw):
    out = standardise(cds_raw, source="reanalysis-era5-land")
    raw = cds_raw.isel(latitude=slice(None, None, -1), valid_time=slice(1, None))  # latitude descends;
    # the first step (00 UTC, no preceding 12 UTC) is dropped
    np.testing.assert_allclose(out["t2m"].values, raw["t2m"].values - 273.15, rtol=1e-6, atol=1e-4)
    noon = raw["valid_time"].dt.hour.values == 12  # 12 UTC: the 12-hour total as it is
    np.testing.assert_allclose(out["tp"].values[noon], raw["tp"].values[noon] * 1000.0, rtol=1e-6)


def test_sample_longitudes_wrap_and_values_follow(sample_std):
    from climate_bnnp.data import open_sample

    raw = open_sample()
    # raw longitude 350 E becomes -10; raw latitude 40 N stays 40
    a = sample_std["t2m"].sel(longitude=-10.0, latitude=40.0).isel(time=0).values
    b = raw["t2m"].sel(longitude=350.0, latitude=40.0).isel(time=0).values - 273.15
    assert a == pytest.approx(b, abs=1e-4)
    assert sample_std.sizes == {"time": 24, "latitude": 181, "longitude": 360}


def test_accumulation_period_is_recorded(sample_std, cds_raw):
    cds = standardise(cds_raw, source="reanalysis-era5-land")
    assert np.all(cds["tp_period_hours"].values == 12) and cds.attrs["tp_period_hours"] == 12
    assert np.all(sample_std["tp_period_hours"].values == 1) and sample_std.attrs["tp_period_hours"] == 1
    assert "since 00 UTC" in cds.attrs["tp_accumulation"]
    assert "1-hour total" in sample_std.attrs["tp_accumulation"]
    assert cds.attrs["attribution"] == ERA5_LAND_ATTRIBUTION


def test_nan_mask_kept(cds_raw):
    out = standardise(cds_raw, source="reanalysis-era5-land")
    raw = cds_raw["tp"].isel(valid_time=slice(1, None), latitude=slice(None, None, -1)).values
    np.testing.assert_array_equal(np.isnan(out["tp"].values), np.isnan(raw))
    assert np.isnan(raw).any()


def test_size_one_number_dim_and_old_expver_dim():
    raw = mock_era5(n_time=4, n_lat=5, n_lon=6, source="cds").drop_vars("expver")
    with_number = raw.expand_dims(number=[0])
    a = standardise(with_number, source="reanalysis-era5-land")
    # old CDS: ERA5 (expver 1) for the first two times, ERA5T (expver 5) for the rest, NaN elsewhere
    e1 = raw.where(raw["valid_time"] < raw["valid_time"][2])
    e5 = raw.where(raw["valid_time"] >= raw["valid_time"][2])
    old = xr.concat([e1, e5], dim=xr.DataArray(["0001", "0005"], dims="expver", name="expver"))
    old = old.rename({"valid_time": "time"})
    b = standardise(old, source="reanalysis-era5-land")
    xr.testing.assert_allclose(a, b)


def test_missing_variable_message(cds_raw):
    message = r"Missing variables \['tp'\]: expected \['t2m', 'tp'\], got \['t2m'\]"
    with pytest.raises(ValueError, match=message):
        standardise(cds_raw[["t2m"]], source="reanalysis-era5-land")


def test_wrong_units_message(cds_raw):
    cds_raw["t2m"].attrs["units"] = "degF"
    with pytest.raises(ValueError, match=r"Variable 't2m' has units 'degF'; expected one of \['K', 'degC'\]"):
        standardise(cds_raw, source="reanalysis-era5-land")


def test_unexpected_dims_message():
    raw = mock_era5(n_time=2, n_lat=3, n_lon=4, source="cds").expand_dims(level=[500, 850])
    with pytest.raises(ValueError, match=r"Variable 't2m' has dims .*'level'.*expected \('time', 'latitude'"):
        standardise(raw, source="reanalysis-era5-land")
    ens = mock_era5(n_time=2, n_lat=3, n_lon=4, source="cds").expand_dims(number=[0, 1])
    with pytest.raises(ValueError, match=r"Expected one ensemble member .* got 2"):
        standardise(ens, source="reanalysis-era5-land")


def test_unknown_source_message(cds_raw):
    with pytest.raises(ValueError, match=r"Unknown source 'cds': expected one of"):
        standardise(cds_raw, source="cds")


def test_lazy_input_stays_lazy(tmp_path):
    path = tmp_path / "m.nc"
    mock_era5(n_time=4, n_lat=5, n_lon=6, source="cds").to_netcdf(path)
    with xr.open_dataset(path, chunks={"valid_time": 1}) as raw:
        out = standardise(raw, source="reanalysis-era5-land")
        assert out["tp"].chunks is not None and out["t2m"].chunks[0] == (1, 1, 1)  # first 00Z dropped
        assert out["tp"].chunks[0] == (1, 1, 1)
