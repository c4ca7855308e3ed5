"""CDS download with a fake client that checks requests and writes real new-CDS netCDF files."""

from __future__ import annotations

import logging
import time
import zipfile

import pytest
import xarray as xr
from fake_cds import FakeCDSClient

from climate_bnnp.data import CDSCredentialsError, CDSDownloadError, CDSRequest, download, make_cds_client
from climate_bnnp.data.cds import check_credentials
from climate_bnnp.data.cds_files import month_file_problem

FAKE_KEY = "fake-key-0123456789abcdef"  # as set by the autouse fixture in conftest.py


def paper_request(year: int, month: int) -> tuple[str, dict]:
    """The paper's request (docs/pipeline.md), written out literally as the oracle."""
    return (
        "reanalysis-era5-land",
        {
            "variable": ["2m_temperature", "total_precipitation"],
            "year": f"{year:04d}",
            "month": f"{month:02d}",
            "day": [f"{d:02d}" for d in range(1, 32)],
            "time": ["00:00", "12:00"],
            "area": [50, 5, 45, 12],
            "grid": [0.1, 0.1],
            "format": "netcdf",
        },
    )


def test_defaults_reproduce_the_paper_request_for_all_120_months():
    reqs = CDSRequest().month_requests()
    assert list(reqs) == [(y, m) for y in range(2010, 2020) for m in range(1, 13)]
    for (y, m), body in reqs.items():
        assert ("reanalysis-era5-land", body) == paper_request(y, m)
    assert CDSRequest().filename(2010, 3) == "reanalysis-era5-land_2010_03.nc"


def test_single_levels_gets_product_type_and_config_round_trip():
    req = CDSRequest.from_dict({"dataset": "reanalysis-era5-single-levels", "years": [2020], "months": [2]})
    assert req.month_request(2020, 2)["product_type"] == ["reanalysis"]
    assert CDSRequest.from_dict(req.to_dict()) == req


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "era5"}, "dataset must be one of"),
        ({"months": (0,)}, r"months must be non-empty and within 1\.\.12"),
        ({"times": ("12:30",)}, "times must look like 'HH:00'"),
        ({"area": (45, 5, 50, 12)}, "north > south"),
        ({"format": "grib"}, "Only format='netcdf'"),
    ],
)
def test_request_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CDSRequest(**kwargs)


def test_unknown_request_key():
    with pytest.raises(ValueError, match=r"Unknown CDS request keys \['yeras'\]; valid keys are"):
        CDSRequest.from_dict({"yeras": [2010]})


REQ = CDSRequest(years=(2019,), months=(1, 2, 3, 4, 5, 6))


def test_download_with_fake_client_exact_requests_and_real_files(tmp_path):
    fake = FakeCDSClient(expected=paper_request)
    paths = download(REQ, tmp_path, client=fake, max_concurrent=3, retries=0)
    assert fake.mismatches == []
    assert [p.name for p in paths] == [f"reanalysis-era5-land_2019_{m:02d}.nc" for m in range(1, 7)]
    with xr.open_dataset(paths[1]) as ds:  # February: 28 days x 2 times, new CDS layout, 0.1 deg grid
        assert ds.sizes["valid_time"] == 56 and {"number", "expver"} <= set(ds.coords)
        assert (ds.sizes["latitude"], ds.sizes["longitude"]) == (51, 71)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp files left


def test_zip_delivered_as_nc_is_unpacked_and_merged(tmp_path):
    fake = FakeCDSClient(expected=paper_request, zip_on={(2019, 2)})
    paths = download(CDSRequest(years=(2019,), months=(2,)), tmp_path, client=fake, retries=0)
    assert paths[0].read_bytes()[:4] != b"PK\x03\x04"
    with xr.open_dataset(paths[0]) as ds:
        assert {"t2m", "tp"} <= set(ds.data_vars)
    assert month_file_problem(paths[0], CDSRequest(years=(2019,), months=(2,)), 2019, 2) is None


def test_failure_half_way_then_rerun_resumes(tmp_path):
    first = FakeCDSClient(expected=paper_request, fail_on={(2019, 3)})
    with pytest.raises(CDSDownloadError, match=r"1 of 6 months failed .*2019-03.*rerun to resume"):
        download(REQ, tmp_path, client=first, max_concurrent=1, retries=1, backoff_s=0.0)
    assert len(first.calls) == 7  # six months, March tried twice
    assert not (tmp_path / "reanalysis-era5-land_2019_03.nc").exists()  # no file that looks complete
    second = FakeCDSClient(expected=paper_request)
    paths = download(REQ, tmp_path, client=second, max_concurrent=2, retries=0)
    assert [c[1]["month"] for c in second.calls] == ["03"]  # complete months skipped
    assert all(month_file_problem(p, REQ, 2019, m + 1) is None for m, p in enumerate(paths))
    third = FakeCDSClient()
    download(REQ, tmp_path, client=third, client_factory=pytest.fail)  # all complete: no client needed
    assert third.calls == []


def test_incomplete_or_corrupt_month_is_downloaded_again(tmp_path):
    download(REQ, tmp_path, client=FakeCDSClient(), retries=0)
    (tmp_path / "reanalysis-era5-land_2019_01.nc").write_bytes(b"garbage")
    short = FakeCDSClient().dataset(paper_request(2019, 2)[1]).isel(valid_time=slice(0, 10))
    short.to_netcdf(tmp_path / "reanalysis-era5-land_2019_02.nc", mode="w")
    fake = FakeCDSClient()
    download(REQ, tmp_path, client=fake, retries=0)
    assert sorted(c[1]["month"] for c in fake.calls) == ["01", "02"]


def test_backoff_is_exponential(tmp_path, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr("climate_bnnp.data.cds.time.sleep", sleeps.append)
    fake = FakeCDSClient(fail_on={(2019, 1)})
    with pytest.raises(CDSDownloadError):
        download(CDSRequest(years=(2019,), months=(1,)), tmp_path, client=fake, retries=3, backoff_s=2.0)
    assert sleeps == [2.0, 4.0, 8.0]


def test_missing_credentials_fail_fast_without_key(monkeypatch, isolated_cds_env):
    monkeypatch.delenv("CDSAPI_URL")
    monkeypatch.delenv("CDSAPI_KEY")
    start = time.perf_counter()
    with pytest.raises(CDSCredentialsError, match=r"~/\.cdsapirc.*CDSAPI_URL and CDSAPI_KEY"):
        make_cds_client()
    with pytest.raises(CDSCredentialsError, match="Missing CDS credentials"):
        download(REQ, isolated_cds_env / "out")  # default factory: fails before any request
    assert time.perf_counter() - start < 2.0


def test_incomplete_rc_file_fails_and_never_shows_key(monkeypatch, isolated_cds_env):
    rc = isolated_cds_env / "rc"
    rc.write_text(f"key: {FAKE_KEY}\n")  # no url line
    monkeypatch.setenv("CDSAPI_RC", str(rc))
    monkeypatch.delenv("CDSAPI_URL")
    monkeypatch.delenv("CDSAPI_KEY")
    with pytest.raises(CDSCredentialsError, match="no CDS API URL") as info:
        check_credentials()
    assert FAKE_KEY not in str(info.value)
    rc.write_text(f"url: https://cds.invalid/api\nkey: {FAKE_KEY}\n")
    check_credentials()  # complete file: passes


def test_key_never_logged(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    fake = FakeCDSClient(fail_on={(2019, 1)}, error_text=f"401 unauthorised key={FAKE_KEY}")
    with pytest.raises(CDSDownloadError) as info:
        download(CDSRequest(years=(2019,), months=(1, 2)), tmp_path, client=fake, retries=1, backoff_s=0.0)
    out = capsys.readouterr()
    text = caplog.text + out.out + out.err + str(info.value)
    assert "key=***" in text
    assert FAKE_KEY not in text


def test_real_client_is_built_with_bounded_retries(monkeypatch):
    import cdsapi

    seen = {}
    monkeypatch.setattr(cdsapi, "Client", lambda **kw: seen.update(kw) or "client")
    assert make_cds_client(retry_max=2, sleep_max=1.0, timeout=5.0) == "client"
    assert seen == {"retry_max": 2, "sleep_max": 1.0, "timeout": 5.0, "quiet": True, "progress": False}


def test_zip_fixture_really_is_zip(tmp_path):
    target = tmp_path / "x.nc"
    FakeCDSClient(zip_on={(2019, 2)}).retrieve("reanalysis-era5-land", paper_request(2019, 2)[1], str(target))
    assert target.read_bytes()[:4] == b"PK\x03\x04"
    assert len(zipfile.ZipFile(target).namelist()) == 2
