"""Predictive summaries against brute-force Monte Carlo; noise draws; checkpoints and provenance."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from pred_helpers import schema_of
from scipy import stats

from climate_bnnp import predict, save_checkpoint
from climate_bnnp.data import ERA5_ATTRIBUTION, Normaliser
from climate_bnnp.likelihoods import get_likelihood
from climate_bnnp.prediction.summary import cell_keys, standard_normal_at, summarise

GAUSSIAN = get_likelihood("gaussian")


@pytest.mark.parametrize("transform", ["none", "log1p"])
def test_moments_match_brute_force(transform):
    rng = np.random.default_rng(0)
    norm = Normaliser(mean={"tp": 0.3}, std={"tp": 0.7}, tp_transform=transform)
    f = rng.normal(0.0, 0.5, (6, 3))  # (S, N)
    sigma = 0.4
    keys = cell_keys(1, np.array([0.0, 10.0, 20.0]), np.array([5.0, 6.0, 7.0]))
    out = summarise(
        GAUSSIAN, {"loc": f, "scale": sigma}, normaliser=norm, target="tp", keys=keys, quantiles=(0.1, 0.9),
        return_samples=False,
    )  # fmt: skip
    z = f[:, None, :] + sigma * rng.standard_normal((6, 400_000, 3))  # many noise draws per function sample
    y = np.maximum(norm.inverse("tp", z), 0.0).reshape(-1, 3)  # tp: clipped at 0 mm
    np.testing.assert_allclose(out["mean"], y.mean(0), rtol=5e-3)
    np.testing.assert_allclose(out["std"], y.std(0), rtol=5e-3)


def test_noise_draws_are_standard_normal_and_keyed_by_coordinates():
    lat = np.repeat(np.linspace(-80, 80, 50), 40)
    lon = np.tile(np.linspace(0, 350, 40), 50)
    eps = standard_normal_at(cell_keys(7, lat, lon), 25)  # (25, 2000)
    assert stats.kstest(eps.ravel(), "norm").pvalue > 1e-3
    assert abs(np.corrcoef(eps[0], eps[1])[0, 1]) < 0.1
    np.testing.assert_array_equal(cell_keys(7, lat, lon), cell_keys(7, lat, lon - 360.0))
    assert not np.array_equal(cell_keys(7, lat, lon), cell_keys(8, lat, lon))


def test_log1p_quantiles_are_monotone_back_transforms():
    norm = Normaliser(mean={"tp": 0.3}, std={"tp": 0.7}, tp_transform="log1p")
    f = np.random.default_rng(1).normal(size=(40, 5))
    keys = cell_keys(0, np.zeros(5), np.arange(5.0))
    out = summarise(
        GAUSSIAN,
        {"loc": f, "scale": 0.2},
        normaliser=norm,
        target="tp",
        keys=keys,
        quantiles=(0.05, 0.5, 0.95),
        return_samples=True,
    )
    eps = standard_normal_at(keys, 40)
    z_quant = np.quantile(f + 0.2 * eps, [0.05, 0.5, 0.95], axis=0)
    # quantiles commute with the monotone back-transform only up to the interpolation between order statistics
    np.testing.assert_allclose(out["quantiles"][1], np.expm1(0.3 + 0.7 * z_quant[1]), rtol=0.05)
    assert (np.diff(out["quantiles"], axis=0) >= 0).all()
    np.testing.assert_allclose(out["samples"], np.maximum(np.expm1(0.3 + 0.7 * f), 0.0))  # clipped at 0 mm


def test_checkpoint_route_and_provenance(tmp_path, model, normaliser, grid):
    path = save_checkpoint(
        tmp_path / "m.pt",
        model,
        schema=schema_of(normaliser),
    )
    from_file = predict(path, grid, num_samples=6)
    direct = predict(model, grid, schema=schema_of(normaliser), num_samples=6)
    np.testing.assert_allclose(from_file["mean"].values, direct["mean"].values, rtol=1e-12)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert from_file.attrs["checkpoint_sha256"] == sha
    assert from_file.attrs["model_kind"] == "bnnp"
    assert from_file.attrs["data_attribution"] == ERA5_ATTRIBUTION
    assert from_file["mean"].attrs["units"] == "mm"
    assert from_file["mean"].attrs["standard_name"] == "precipitation_amount"
    assert list(from_file["quantile"].values) == [0.05, 0.25, 0.5, 0.75, 0.95]
