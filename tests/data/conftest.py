"""Fixtures of the data-layer tests. Every test here runs with HOME and CDSAPI_* pointed at temporary
values, so no real credential file is ever read."""

from __future__ import annotations

import pytest
import xarray as xr

from climate_bnnp.data import mock_era5, open_sample, standardise

FAKE_KEY = "fake-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated_cds_env(tmp_path_factory, monkeypatch):
    """Point HOME and CDSAPI_RC at empty temporary places and set fake CDSAPI_URL/CDSAPI_KEY."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CDSAPI_RC", str(home / "no-such-cdsapirc"))
    monkeypatch.setenv("CDSAPI_URL", "https://cds.invalid/api")
    monkeypatch.setenv("CDSAPI_KEY", FAKE_KEY)
    return home


@pytest.fixture(scope="session")
def sample_std() -> xr.Dataset:
    """The real bundled ERA5 sample, standardised (lazy)."""
    return standardise(open_sample(), source="sample")


@pytest.fixture()
def cds_raw(tmp_path) -> xr.Dataset:
    """A small new-CDS-format ERA5-Land file, written to netCDF and reopened (as downloads are)."""
    path = tmp_path / "cds.nc"
    mock_era5(n_time=6, n_lat=11, n_lon=15, source="cds", seed=1).to_netcdf(path)
    with xr.open_dataset(path) as ds:
        yield ds.load()
