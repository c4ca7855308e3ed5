import json

import numpy as np
import pytest
import xarray as xr

from climate_bnnp.data import Normaliser, fit_normaliser, mock_era5, split_times, standardise


@pytest.fixture()
def std():
    raw = mock_era5(n_time=8, n_lat=6, n_lon=7, source="cds", seed=3)
    return standardise(raw, source="reanalysis-era5-land").chunk({"time": 1})


@pytest.mark.parametrize("tp_transform", ["none", "log1p"])
def test_fit_uses_train_split_only(std, tp_transform):
    split = split_times(std["time"].values, n_val=2, n_test=2)
    poisoned = std.copy()
    poisoned["t2m"] = xr.where(std["time"] >= std["time"][4], 1e6, std["t2m"])  # val/test garbage
    norm = fit_normaliser(poisoned, ["t2m", "tp"], tp_transform=tp_transform, times=split["train"])
    train = std.isel(time=split["train"])
    t2m = train["t2m"].values.astype(np.float64)
    tp = train["tp"].values.astype(np.float64)
    tp = np.log1p(tp) if tp_transform == "log1p" else tp
    assert norm.mean["t2m"] == pytest.approx(np.nanmean(t2m), rel=1e-10)
    assert norm.std["t2m"] == pytest.approx(np.nanstd(t2m), rel=1e-10)
    assert norm.mean["tp"] == pytest.approx(np.nanmean(tp), rel=1e-10)
    assert norm.std["tp"] == pytest.approx(np.nanstd(tp), rel=1e-10)


@pytest.mark.parametrize("tp_transform", ["none", "log1p"])
def test_forward_inverse_round_trip_numpy_and_xarray(std, tp_transform):
    norm = fit_normaliser(std, ["t2m", "tp"], tp_transform=tp_transform)
    for name in ("t2m", "tp"):
        x = std[name].values
        np.testing.assert_allclose(norm.inverse(name, norm.forward(name, x)), x, rtol=1e-5, atol=1e-5)
        z = norm.forward(name, std[name])
        assert isinstance(z, xr.DataArray)
        assert float(z.mean()) == pytest.approx(0.0, abs=1e-5)
        xr.testing.assert_allclose(norm.inverse(name, z), std[name], rtol=1e-5, atol=1e-5)


def test_dict_round_trip_is_json():
    norm = Normaliser(mean={"t2m": 1.5, "tp": 0.2}, std={"t2m": 3.0, "tp": 0.5}, tp_transform="log1p")
    data = json.loads(json.dumps(norm.to_dict()))
    assert Normaliser.from_dict(data) == norm
    assert norm.forward("tp", np.array([0.0]))[0] == pytest.approx((0.0 - 0.2) / 0.5)


def test_errors():
    with pytest.raises(
        ValueError, match=r"tp_transform must be one of \('none', 'log1p', 'scale'\), got 'log'"
    ):
        Normaliser(mean={}, std={}, tp_transform="log")
    with pytest.raises(ValueError, match="std of 'tp' must be finite and > 0"):
        Normaliser(mean={"tp": 0.0}, std={"tp": 0.0})
    with pytest.raises(KeyError, match=r"No statistics for 'msl'"):
        Normaliser(mean={"tp": 0.0}, std={"tp": 1.0}).forward("msl", np.zeros(1))
    with pytest.raises(ValueError, match=r"Normaliser data needs keys"):
        Normaliser.from_dict({"mean": {}})


def test_scale_transform_divides_tp_by_its_train_rms(std):
    split = split_times(std["time"].values, n_val=2, n_test=2)
    norm = fit_normaliser(std, ["t2m", "tp"], tp_transform="scale", times=split["train"])
    tp = std["tp"].isel(time=split["train"]).values.astype(np.float64)
    rms = np.sqrt(np.nanmean(tp**2))
    assert norm.mean["tp"] == 0.0
    assert norm.std["tp"] == pytest.approx(rms, rel=1e-10)
    t2m = std["t2m"].isel(time=split["train"]).values.astype(np.float64)
    assert norm.mean["t2m"] == pytest.approx(np.nanmean(t2m), rel=1e-10)  # other variables are z-scored
    x = std["tp"].values
    z = norm.forward("tp", x)
    np.testing.assert_allclose(z, x / rms, rtol=1e-6)  # x is float32
    assert np.nanmin(z) >= 0 and np.all((z == 0) == (x == 0))  # dry cells stay exactly 0
    np.testing.assert_allclose(norm.inverse("tp", z), x, rtol=1e-6)
    assert Normaliser.from_dict(json.loads(json.dumps(norm.to_dict()))) == norm


def test_scale_transform_requires_zero_tp_mean():
    with pytest.raises(ValueError, match=r"tp_transform='scale' the mean of 'tp' must be 0.*got 0.2"):
        Normaliser(mean={"tp": 0.2}, std={"tp": 0.5}, tp_transform="scale")


def test_wet_threshold_makes_traces_dry_and_round_trips():
    """Amounts below the wet threshold are dry (exactly 0 after the transform); statistics are those of the
    thresholded values (brute force); the threshold travels in the plain data; without one, old data reads."""
    rng = np.random.default_rng(0)
    tp = np.where(rng.uniform(size=(6, 4, 5)) < 0.4, 0.0, rng.gamma(0.5, 0.4, size=(6, 4, 5)))
    tp[0, 0, 0] = np.nan
    ds = xr.Dataset({"tp": (("time", "latitude", "longitude"), tp)})
    norm = fit_normaliser(ds, ["tp"], tp_transform="scale", wet_threshold=0.1)
    kept = np.where(tp < 0.1, 0.0, tp)
    assert norm.std["tp"] == pytest.approx(np.sqrt(np.nanmean(kept**2)), rel=1e-12)
    z = norm.forward("tp", tp)
    np.testing.assert_array_equal(z == 0, (tp < 0.1) | (tp == 0))
    assert np.isnan(z[0, 0, 0])
    np.testing.assert_allclose(norm.inverse("tp", z)[tp >= 0.1], tp[tp >= 0.1], rtol=1e-12)
    assert Normaliser.from_dict(norm.to_dict()) == norm
    plain = fit_normaliser(ds, ["tp"], tp_transform="log1p")
    assert "wet_threshold" not in plain.to_dict() and Normaliser.from_dict(plain.to_dict()) == plain
    with pytest.raises(ValueError, match="wet_threshold must be a finite amount >= 0 mm"):
        Normaliser(tp_transform="scale", wet_threshold=-0.1)
