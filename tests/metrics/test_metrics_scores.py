"""Metrics against oracles that share no code: hand computation, brute force, closed forms, Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from climate_bnnp.metrics import (
    coverage,
    crps_samples,
    in_interval,
    log_predictive_density,
    mae,
    mean_log_predictive_density,
    nll,
    ppd,
    rmse,
    summarise,
)


def _npdf(y, m, s):
    return math.exp(-0.5 * ((y - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))


# ---------------------------------------------------------------- PPD and log predictive densities


def test_ppd_hand_computed_tiny_example():
    y = np.array([0.0, 1.0])
    f = np.array([[0.0, 0.0], [1.0, 2.0]])  # (S=2, N=2)
    sigma = 0.5
    dens = [_npdf(0, 0, sigma), _npdf(0, 1, sigma), _npdf(1, 0, sigma), _npdf(1, 2, sigma)]
    expected_ppd = math.log(sum(dens) / 4)
    expected_mlpd = 0.5 * (math.log((dens[0] + dens[1]) / 2) + math.log((dens[2] + dens[3]) / 2))
    assert ppd(y, f, sigma) == pytest.approx(expected_ppd, abs=1e-12)
    assert mean_log_predictive_density(y, f, sigma) == pytest.approx(expected_mlpd, abs=1e-12)
    assert nll(y, f, sigma) == pytest.approx(-expected_mlpd, abs=1e-12)
    # Here one point is predicted well and one badly: log of the mean density exceeds the mean log
    # density by a clear margin (Jensen), so the two metrics are not interchangeable.
    assert ppd(y, f, sigma) - mean_log_predictive_density(y, f, sigma) > 0.2


def test_ppd_equals_mlpd_when_all_points_have_equal_density():
    y = np.array([0.0, 1.0, 2.0])
    f = y[None, :] + np.array([[0.3], [-0.1]])  # every point sees the same residuals
    assert ppd(y, f, 0.7) == pytest.approx(mean_log_predictive_density(y, f, 0.7), abs=1e-12)


def test_ppd_brute_force_random_batch_and_stability():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(7, 3, 11))  # (S, B, N)
    y = rng.normal(size=(3, 11))
    sigma = 0.3
    dens = np.exp(-0.5 * ((y - f) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(ppd(y, f, sigma), np.log(dens.mean(axis=(0, 2))), rtol=1e-12)
    np.testing.assert_allclose(
        mean_log_predictive_density(y, f, sigma), np.log(dens.mean(axis=0)).mean(axis=-1), rtol=1e-12
    )
    assert ppd(y, f, sigma, axis=None) == pytest.approx(np.log(dens.mean()), rel=1e-12)
    # Far-away targets: densities underflow to 0 in float64, the log-sum-exp stays finite.
    far = ppd(y + 100.0, f, 0.01)
    assert np.all(np.isfinite(far)) and np.all(far < -1e7)


def test_nan_targets_are_ignored_and_mask_is_equivalent():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(5, 8))
    y = rng.normal(size=8)
    y_nan = y.copy()
    y_nan[[2, 5]] = np.nan
    keep = ~np.isnan(y_nan)
    for fn in (ppd, mean_log_predictive_density, nll):
        ref = fn(y[keep], f[:, keep], 0.4)
        assert fn(y_nan, f, 0.4) == pytest.approx(ref, rel=1e-12)
        assert fn(y, f, 0.4, mask=keep) == pytest.approx(ref, rel=1e-12)
    mean = f.mean(axis=0)
    assert mae(y_nan, mean) == pytest.approx(np.abs(mean - y)[keep].mean())
    assert rmse(y, mean, mask=keep) == pytest.approx(np.sqrt(((mean - y) ** 2)[keep].mean()))
    lpd = log_predictive_density(y_nan, f, 0.4)
    assert np.isnan(lpd[2]) and np.isnan(lpd[5]) and np.all(np.isfinite(lpd[keep]))
    assert np.isnan(crps_samples(y_nan, f)[2])
    assert coverage(y_nan, f) == pytest.approx(coverage(y[keep], f[:, keep]))
    # no valid target in a task -> NaN for that task only
    yb = np.stack([y, np.full(8, np.nan)])
    out = ppd(yb, np.stack([f, f], axis=1), 0.4)
    assert np.isfinite(out[0]) and np.isnan(out[1])


def test_nan_predictions_propagate():
    f = np.zeros((3, 4))
    f[1, 2] = np.nan
    y = np.zeros(4)
    assert math.isnan(ppd(y, f, 1.0))
    assert math.isnan(mean_log_predictive_density(y, f, 1.0))
    assert np.isnan(crps_samples(y, f)[2])
    assert math.isnan(coverage(y, f))


def test_bad_inputs_have_messages():
    with pytest.raises(ValueError, match="leading sample axis"):
        ppd(np.zeros(4), np.zeros(4), 1.0)
    with pytest.raises(ValueError, match="must be > 0"):
        ppd(np.zeros(4), np.zeros((2, 4)), 0.0)
    with pytest.raises(TypeError, match="boolean"):
        ppd(np.zeros(4), np.zeros((2, 4)), 1.0, mask=np.ones(4))
    with pytest.raises(ValueError, match="does not broadcast"):
        mae(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="at least 2 samples"):
        crps_samples(np.zeros(4), np.zeros((1, 4)), fair=True)
    with pytest.raises(ValueError, match="level"):
        coverage(np.zeros(4), np.zeros((2, 4)), level=1.5)


# ---------------------------------------------------------------- MAE / RMSE


def test_mae_rmse_small_example():
    y = np.array([1.0, 2.0, 4.0])
    m = np.array([1.5, 2.0, 1.0])
    assert mae(y, m) == pytest.approx((0.5 + 0 + 3) / 3)
    assert rmse(y, m) == pytest.approx(math.sqrt((0.25 + 9) / 3))
    np.testing.assert_allclose(mae(np.stack([y, y]), np.stack([m, y])), [3.5 / 3, 0.0])


# ---------------------------------------------------------------- CRPS


def _crps_brute(y, x, fair):
    """O(S^2) double loop straight from the definition."""
    S = len(x)
    term1 = sum(abs(xi - y) for xi in x) / S
    pair = sum(abs(xi - xj) for xi in x for xj in x)
    return term1 - pair / (2 * (S * (S - 1) if fair else S * S))


@pytest.mark.parametrize("fair", [False, True])
def test_crps_matches_brute_force_double_loop(fair):
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, size=(13, 6))  # (S, N), with ties below
    x[3, 0] = x[4, 0]
    y = rng.normal(size=6)
    expected = [_crps_brute(y[n], x[:, n], fair) for n in range(6)]
    np.testing.assert_allclose(crps_samples(y, x, fair=fair), expected, rtol=1e-12, atol=1e-13)


def test_crps_single_member_equals_absolute_error():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 2, 9))
    y = rng.normal(size=(2, 9))
    np.testing.assert_allclose(crps_samples(y, x), np.abs(x[0] - y), rtol=0, atol=1e-15)
    assert float(np.mean(crps_samples(y, x))) == pytest.approx(mae(y, x[0], axis=None))


def test_crps_converges_to_gaussian_closed_form():
    # CRPS(N(mu, s^2), y) = s [ z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi) ],  z = (y - mu) / s.
    rng = np.random.default_rng(4)
    num_points, num_samples = 40, 20_000
    mu = rng.normal(size=num_points)
    s = rng.uniform(0.5, 2.0, size=num_points)
    y = rng.normal(size=num_points) * 1.5
    z = (y - mu) / s
    exact = s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    x = mu + s * rng.standard_normal(size=(num_samples, num_points))
    # Monte-Carlo error of the fair estimator is O(s / sqrt(S)) ~ 0.014 s: tolerance 0.05 s (> 3 sd).
    assert np.all(np.abs(crps_samples(y, x, fair=True) - exact) < 0.05 * s)
    # The standard estimator is biased HIGH by E|X-X'| / (2S) = s / (sqrt(pi) S): its pair sum includes
    # the S zero diagonal terms |x_i - x_i|, so its spread term is on average (S-1)/S of E|X-X'| / 2 and
    # too little is subtracted (test_crps_standard_estimator_is_biased_high...). Negligible at S = 20,000.
    assert np.all(np.abs(crps_samples(y, x) - exact) < 0.05 * s)


def _gaussian_crps(y, mu, s):
    z = (y - mu) / s
    return s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_standard_estimator_is_biased_high_and_fair_is_unbiased():
    # Members and truth from N(0, 1) with S = 4: E[standard] - CRPS = E|X-X'| / (2S) = 1 / (sqrt(pi) S)
    # = 0.141 and E[fair] - CRPS = 0, the CRPS averaged over the truth's distribution (closed form per point).
    rng = np.random.default_rng(40)
    num_samples, num_points = 4, 200_000
    y = rng.standard_normal(num_points)
    x = rng.standard_normal((num_samples, num_points))
    exact = _gaussian_crps(y, 0.0, 1.0)
    bias_standard = np.mean(crps_samples(y, x) - exact)
    bias_fair = np.mean(crps_samples(y, x, fair=True) - exact)
    # per-point differences have sd < 1, so the means have sd < 1 / sqrt(2e5) = 0.0022: tolerance 0.01
    assert bias_standard == pytest.approx(1 / (np.sqrt(np.pi) * num_samples), abs=0.01)
    assert bias_standard > 0.1
    assert abs(bias_fair) < 0.01


@pytest.mark.parametrize(("fair", "estimator"), [(True, "fair"), (False, "nrg")])
def test_crps_matches_scoringrules(fair, estimator):
    sr = pytest.importorskip("scoringrules")
    rng = np.random.default_rng(41)
    x = rng.gamma(0.5, 2.0, size=(9, 3, 17))  # (S, B, N)
    x[:, 0, :4] = 0.0  # ties at 0 mm
    y = np.where(rng.uniform(size=(3, 17)) < 0.3, 0.0, rng.gamma(0.5, 2.0, size=(3, 17)))
    expected = sr.crps_ensemble(y, x, m_axis=0, estimator=estimator)
    np.testing.assert_allclose(crps_samples(y, x, fair=fair), expected, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- coverage


def test_coverage_calibrated_and_overconfident_samples():
    rng = np.random.default_rng(5)
    num_points, num_samples, level = 10_000, 400, 0.9
    mu = rng.normal(size=num_points)
    s = rng.uniform(0.5, 2.0, size=num_points)
    y = mu + s * rng.standard_normal(num_points)
    x = mu + s * rng.standard_normal((num_samples, num_points))
    cov = coverage(y, x, level)
    # Each point is inside with probability p ~ level (S-1)/(S+1) (finite-S quantile interval), independently:
    # binomial sd sqrt(p(1-p)/N) = 0.003. Tolerance: 4 sd + the finite-S bias bound 2/(S+1).
    tol = 4 * math.sqrt(level * (1 - level) / num_points) + 2 / (num_samples + 1)
    assert abs(cov - level) < tol
    # Overconfident predictive (half the spread): coverage of a N(0, 1/4) 90% interval is
    # P(|Z| < 1.645/2) = 0.589, far below the level.
    x_narrow = mu + 0.5 * s * rng.standard_normal((num_samples, num_points))
    assert coverage(y, x_narrow, level) == pytest.approx(2 * stats.norm.cdf(1.6449 / 2) - 1, abs=tol)
    # per-point indicators agree with the fraction
    assert np.mean(in_interval(y, x, level)) == pytest.approx(cov)


def test_coverage_interval_endpoints_included():
    x = np.arange(1.0, 12.0)[:, None] * np.ones((1, 3))  # samples 1..11 for 3 points
    y = np.array([1.5, 6.0, 20.0])  # 5%-95% interval = [1.5, 10.5]
    np.testing.assert_array_equal(in_interval(y, x, 0.9), [1.0, 1.0, 0.0])


# ---------------------------------------------------------------- summarise


def test_summarise_mean_and_standard_error():
    v = [1.0, 2.0, 4.0, 5.0]
    mean, se = summarise(v)
    assert mean == 3.0
    assert se == pytest.approx(math.sqrt((4 + 1 + 1 + 4) / 3) / 2)
    assert math.isnan(summarise([2.0])[1])
    assert math.isnan(summarise([1.0, np.nan])[0])
    with pytest.raises(ValueError, match="no values"):
        summarise([])
