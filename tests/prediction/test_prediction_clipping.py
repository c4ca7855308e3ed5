"""Precipitation leaves the package clipped at 0 mm: no negative sample or quantile, only where the target has
a physical lower bound, and clipping never raises the CRPS against a non-negative truth (brute force)."""

from __future__ import annotations

import numpy as np
import pytest
from pred_helpers import make_model, schema_of

from climate_bnnp import predict
from climate_bnnp.data import VARIABLES, Normaliser
from climate_bnnp.metrics import crps_samples
from climate_bnnp.prediction.gaussian import gaussian_prediction
from climate_bnnp.prediction.summary import to_physical

LOG1P = Normaliser(mean={"tp": 0.3, "t2m": 15.0}, std={"tp": 0.5, "t2m": 5.0}, tp_transform="log1p")


def _brute_crps(y: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """``E|X − y| − E|X − X'|/2`` over the empirical distribution of the S samples, per point ``(N,)``."""
    first = np.abs(samples - y).mean(0)
    second = np.abs(samples[:, None, :] - samples[None, :, :]).mean((0, 1))
    return first - 0.5 * second


def test_no_negative_precipitation_leaves_predict_or_the_baselines(grid):
    out = predict(make_model(), grid, schema=schema_of(LOG1P), num_samples=64, return_samples=True, seed=1)
    rng = np.random.default_rng(0)
    n = 300  # a baseline whose log1p Gaussian puts about half its mass below 0 mm
    base = gaussian_prediction(rng.normal(-0.6, 0.5, n), rng.uniform(0.5, 2.0, n), rng.uniform(30, 60, n),
                               rng.uniform(-20, 20, n), schema=schema_of(LOG1P), num_samples=64, seed=3,
                               quantiles=(0.05, 0.5, 0.95))  # fmt: skip
    for ds in (out, base):
        for name in ("samples", "predictive_samples", "quantiles"):
            values = ds[name].values
            assert (values[np.isfinite(values)] >= 0.0).all(), name
    assert (base["predictive_samples"].values == 0.0).mean() > 0.3  # the clip did act
    unclipped = np.expm1(0.3 + 0.5 * base["f_normalised"].values)  # (S, N) function samples in mm
    assert (unclipped < 0).mean() > 0.3
    np.testing.assert_array_equal(base["samples"].values, np.maximum(unclipped, 0.0))


def test_only_a_bounded_target_is_clipped_at_its_valid_min():
    assert VARIABLES["tp"].valid_min == 0.0 and VARIABLES["t2m"].valid_min is None
    z = np.array([-50.0, -1.0, 0.0, 2.0])
    np.testing.assert_array_equal(to_physical(LOG1P, "t2m", z), 15.0 + 5.0 * z)  # no bound: untouched
    expected = np.maximum(np.expm1(0.3 + 0.5 * z), 0.0)
    np.testing.assert_array_equal(to_physical(LOG1P, "tp", z), expected)
    assert (np.expm1(0.3 + 0.5 * z) < 0).any()


def test_clipping_never_raises_the_crps_against_a_non_negative_truth():
    rng = np.random.default_rng(4)
    samples = rng.normal(0.2, 1.0, (40, 2_000))  # (S, N): many below 0
    truth = np.maximum(rng.normal(0.3, 1.0, 2_000), 0.0)  # >= 0, exact zeros included
    clipped = np.maximum(samples, 0.0)
    raw, cut = _brute_crps(truth, samples), _brute_crps(truth, clipped)
    assert (cut <= raw + 1e-12).all()
    assert (cut < raw - 1e-6).mean() > 0.5  # and it lowers it wherever a sample moved
    np.testing.assert_allclose(crps_samples(truth, clipped), cut, rtol=1e-10, atol=1e-12)  # the scores agree


@pytest.mark.parametrize("exp", [False, True])
def test_clipped_mixture_moments_match_monte_carlo(exp):
    """The mean and std a Gaussian prediction reports are those of the clipped predictive its samples
    follow: closed forms against 2M Monte-Carlo draws of max(0, h(m + d (f_s + σ ε)))."""
    from climate_bnnp.likelihoods.predictive import get_likelihood

    gaussian = get_likelihood("gaussian")
    rng = np.random.default_rng(3)
    f = rng.normal(-0.3, 0.8, size=(4, 5))  # (S, N): four draws at five points, many below 0
    params = {"loc": f, "scale": np.full(5, 0.7)}
    scale = 0.6 if exp else 1.3  # a milder log-normal tail keeps the Monte-Carlo std accurate
    mean, std = gaussian.mixture_moments(params, shift=0.2, scale=scale, exp=exp, lower=0.0)
    draw = rng.integers(0, 4, size=(2_000_000, 1))  # the mixture: a draw, then its noise
    g = 0.2 + scale * (np.take_along_axis(f, draw, axis=0) + 0.7 * rng.standard_normal((2_000_000, 5)))
    y = np.maximum(np.expm1(g) if exp else g, 0.0)
    np.testing.assert_allclose(mean, y.mean(0), rtol=5e-3, atol=2e-3)
    np.testing.assert_allclose(std, y.std(0), rtol=5e-3, atol=2e-3)
    unclipped, _ = gaussian.mixture_moments(params, shift=0.2, scale=scale, exp=exp)
    assert (mean >= unclipped).all() and (mean > 0).all()
