"""predict() on a Dataset reproduces the model's direct output on tensors built by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pred_helpers import schema_of
from scipy.stats import norm

from climate_bnnp import predict
from climate_bnnp.prediction.engine import task_seed
from climate_bnnp.prediction.summary import cell_keys, standard_normal_at


def _hand_inputs(ds, t, normaliser):
    """xyz + z-scored t2m and z-scored tp at every cell of time step t, written out here (no package code)."""
    lat2d, lon2d = np.meshgrid(ds.latitude.values, ds.longitude.values, indexing="ij")
    phi, lam = np.deg2rad(lat2d.ravel()), np.deg2rad(lon2d.ravel())
    t2m = ds.t2m.values[t].ravel()
    x = np.stack(
        [np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi), (t2m - 15.0) / 5.0], axis=-1
    )  # (N, 4)
    tp = ds.tp.values[t].ravel()
    return x, (tp - 0.8) / 1.1, lat2d.ravel(), lon2d.ravel()


def _rectified_mixture(m: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the mixture over axis 0 of max(0, N(m_s, s²)) (the rectified normal's moments)."""
    r = m / s
    first = m * norm.cdf(r) + s * norm.pdf(r)
    second = (m**2 + s**2) * norm.cdf(r) + m * s * norm.pdf(r)
    mean = first.mean(0)
    return mean, np.sqrt(second.mean(0) - mean**2)


@pytest.mark.parametrize("t", [0, 1])
def test_predict_equals_direct_model_output(model, normaliser, grid, t):
    num_samples = 16
    out = predict(
        model, grid, schema=schema_of(normaliser), num_samples=num_samples, seed=3,
        return_samples=True, context_chunk_size=None,
    )  # fmt: skip
    x, y, lat, lon = _hand_inputs(grid, t, normaliser)
    context = np.isfinite(y)
    seed = task_seed(3, (grid.time.values[t],))
    with torch.no_grad():
        torch.manual_seed(seed)
        sample = model.sample_weights(
            torch.from_numpy(x[context])[None],
            torch.from_numpy(y[context])[None, :, None],
            num_samples=num_samples,
        )
        f = model.decode(sample.weights, torch.from_numpy(x[~context])[None])[:, 0, :, 0].numpy()  # (S, Nt)
    sigma = float(model.likelihood.std().detach())
    mean, std = _rectified_mixture(0.8 + 1.1 * f, 1.1 * sigma)  # tp is clipped at 0 mm
    got = out.isel(time=t)
    np.testing.assert_allclose(got["mean"].values.ravel()[~context], mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["std"].values.ravel()[~context], std, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(  # tp samples and quantiles are clipped at 0 mm
        got["samples"].values.reshape(num_samples, -1)[:, ~context], np.maximum(0.8 + 1.1 * f, 0.0),
        rtol=1e-10, atol=1e-12,
    )  # fmt: skip
    eps = standard_normal_at(cell_keys(seed, lat[~context], lon[~context]), num_samples)
    draws = np.maximum(0.8 + 1.1 * (f + sigma * eps), 0.0)  # (S, Nt)
    quant = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    np.testing.assert_allclose(
        got["quantiles"].values.reshape(5, -1)[:, ~context], quant, rtol=1e-10, atol=1e-12
    )
    # observed cells are the context and are not predicted by default
    assert np.isnan(got["mean"].values.ravel()[context]).all()


def test_prior_predictive_when_allowed(model, normaliser, grid):
    empty = grid.isel(time=[0]).assign(tp=grid.tp.isel(time=[0]) * np.nan)
    out = predict(model, empty, schema=schema_of(normaliser), num_samples=8, allow_prior=True)
    x, _, _, _ = _hand_inputs(empty, 0, normaliser)
    with torch.no_grad():
        torch.manual_seed(task_seed(0, (empty.time.values[0],)))
        sample = model.sample_weights(None, None, num_samples=8, num_tasks=1)
        f = model.decode(sample.weights, torch.from_numpy(x)[None])[:, 0, :, 0].numpy()
    sigma = float(model.likelihood.std().detach())
    np.testing.assert_allclose(out["mean"].values.ravel(), _rectified_mixture(0.8 + 1.1 * f, 1.1 * sigma)[0],
                               rtol=1e-10)  # fmt: skip


def test_std_includes_observation_noise(model, normaliser, grid):
    out = predict(model, grid, schema=schema_of(normaliser), num_samples=4)
    assert float(out["std"].min()) > 0.0  # its exact value, noise included: the oracle test above
    assert "observation noise" in out["std"].attrs["description"]
