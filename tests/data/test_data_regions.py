import warnings

import numpy as np
import pytest

from climate_bnnp.data import country_mask


def test_france_at_1_degree():
    lat, lon = np.arange(-90.0, 91.0), np.arange(-180.0, 180.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # includes cartopy's DownloadWarning: nothing may be fetched
        mask = country_mask(lat, lon, "France")
    assert mask.shape == (181, 360)
    assert 55 <= mask.sum() <= 90  # metropolitan France ~ 65 cells + overseas parts (French Guiana)
    assert mask[lat == 47.0, lon == 2.0].item()  # near Orleans
    assert not mask[lat == 40.0, lon == -4.0].item()  # Madrid
    metro = country_mask(lat, lon, "France", bbox=(-6, 10, 41, 52))
    assert 50 <= metro.sum() <= 75 and metro.sum() < mask.sum()


def test_switzerland_at_0p1_degree_in_paper_region():
    lat = np.round(np.linspace(45.0, 50.0, 51), 1)
    lon = np.round(np.linspace(5.0, 12.0, 71), 1)
    mask = country_mask(lat, lon, "Switzerland")
    # area 41,285 km2 / (11.1 km x 7.6 km cells at 46.8 N) ~ 490 cells
    assert 420 <= mask.sum() <= 540
    assert mask[lat == 46.9, lon == 7.4].item()  # Bern
    assert not mask[lat == 48.1, lon == 11.6].item()  # Munich


def test_unknown_country_lists_near_names():
    with pytest.raises(ValueError, match=r"No country named 'Swizerland'.*Closest names: \['Switzerland'"):
        country_mask([46.0], [8.0], "Swizerland")
