"""Randomised PIT, coverage and rank histogram against hand examples, Monte-Carlo draws of the randomised
ranks (the definition, sampled), and calibrated ensembles with and without a point mass at 0 mm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from climate_bnnp.metrics import (
    central_coverage,
    central_coverage_from_pit,
    coverage,
    coverage_probability,
    pit_histogram,
    pit_interval,
    pit_interval_from_cdf,
    randomised_pit,
    rank_histogram,
)


def test_pit_interval_hand_example_with_ties():
    x = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [1.0, 4.0]])  # (S=4, N=2)
    y = np.array([0.0, 2.5])
    lo, hi = pit_interval(y, x)
    # point 0: no member below, 3 tied -> [0, 4/5]; point 1: 2 below, no tie -> [2/5, 3/5]
    np.testing.assert_allclose(lo, [0.0, 0.4])
    np.testing.assert_allclose(hi, [0.8, 0.6])
    # 90% interval [0.05, 0.95]: 0.75 / 0.8 of point 0's interval, all of point 1's
    np.testing.assert_allclose(coverage_probability(lo, hi, 0.9), [0.75 / 0.8, 1.0])


def _randomised_ranks_brute_force(y, x, level, rng, draws):
    """The definition sampled: u = (b + U + V)/(S+1), U uniform on {0..e}, V ~ U(0, 1); fraction covered."""
    num = len(x)
    below, ties = np.sum(x < y), np.sum(x == y)
    u = (below + rng.integers(0, ties + 1, size=draws) + rng.uniform(size=draws)) / (num + 1)
    return np.mean((u >= (1 - level) / 2) & (u <= (1 + level) / 2))


def test_coverage_probability_is_the_expected_randomised_indicator():
    rng = np.random.default_rng(0)
    x = np.where(rng.uniform(size=(19, 12)) < 0.5, 0.0, rng.gamma(1.0, size=(19, 12)))
    y = np.where(rng.uniform(size=12) < 0.5, 0.0, rng.gamma(1.0, size=12))
    y[3] = 100.0  # above every member
    for level in (0.5, 0.9):
        prob = coverage_probability(*pit_interval(y, x), level)
        draws = 100_000  # sd of a fraction <= 0.5 / sqrt(1e5) = 0.0016: tolerance 0.008
        brute = [_randomised_ranks_brute_force(y[n], x[:, n], level, rng, draws) for n in range(12)]
        np.testing.assert_allclose(prob, brute, atol=0.008)
        assert central_coverage(y, x, level) == pytest.approx(prob.mean())
    lo, hi = pit_interval(y, x)
    u = randomised_pit(lo, hi, seed=1)
    assert np.all((u >= lo) & (u <= hi))
    np.testing.assert_array_equal(u, randomised_pit(lo, hi, seed=1))


def _zero_inflated(rng, size, p_dry=0.4):
    return np.where(rng.uniform(size=size) < p_dry, 0.0, rng.gamma(0.7, 3.0, size=size))


@pytest.mark.parametrize("num_members", [5, 32])
@pytest.mark.parametrize("distribution", ["gaussian", "zero_inflated"])
def test_calibrated_ensemble_covers_the_level_and_has_a_flat_histogram(num_members, distribution):
    # Truth and members iid from one distribution per point: the randomised PIT is U(0, 1), so the expected
    # coverage is exactly 0.9 and each of 10 bins holds 0.1. Per-point coverage probabilities lie in [0, 1]
    # with variance <= 0.09: the mean of 20,000 has sd <= 0.0021, tolerance 0.01 (bins: sd <= 0.0021 too).
    rng = np.random.default_rng(num_members)
    num_points = 20_000
    if distribution == "gaussian":
        mu, s = rng.normal(size=num_points), rng.uniform(0.5, 2.0, size=num_points)
        y = mu + s * rng.standard_normal(num_points)
        x = mu + s * rng.standard_normal((num_members, num_points))
    else:
        y = _zero_inflated(rng, num_points)
        x = _zero_inflated(rng, (num_members, num_points))
    assert central_coverage(y, x, 0.9) == pytest.approx(0.9, abs=0.01)
    np.testing.assert_allclose(rank_histogram(y, x, 10), np.full(10, 0.1), atol=0.01)
    old = coverage(y, x, 0.9)  # quantile interval, ends included
    if distribution == "gaussian":  # about 0.9 (S-1)/(S+1) for a continuous predictive (0.62 at S = 5)
        assert old == pytest.approx(0.9 * (num_members - 1) / (num_members + 1), abs=0.03)
    elif num_members == 32:  # >= 3 of 32 members are 0 (almost surely): every dry truth (40 %) is "covered"
        dry = y == 0
        assert coverage(y[dry], x[:, dry], 0.9) > 0.999
        assert central_coverage(y[dry], x[:, dry], 0.9) < 0.92
        assert old > 0.915  # flattering: above the level despite the finite-S shrinkage of wet cells


def _expected_coverage_of_scaled_ensemble(c, num_members, level):
    """Truth z ~ N(0, 1), S members N(0, c^2) (standardised per point): the rank given z is
    Binomial(S, Phi(z / c)) and rank k covers the fraction of [k, k+1] / (S+1) inside the central interval;
    integrated over z by quadrature."""
    a, b = (1 - level) / 2, (1 + level) / 2
    k = np.arange(num_members + 1)
    frac = np.clip(np.minimum((k + 1) / (num_members + 1), b) - np.maximum(k / (num_members + 1), a), 0, None)
    frac = frac * (num_members + 1)

    def integrand(z):
        return stats.norm.pdf(z) * np.sum(stats.binom.pmf(k, num_members, stats.norm.cdf(z / c)) * frac)

    return integrate.quad(integrand, -12, 12, limit=200)[0]


def test_over_and_under_confident_ensembles():
    rng = np.random.default_rng(7)
    num_points, num_members = 20_000, 32
    mu, s = rng.normal(size=num_points), rng.uniform(0.5, 2.0, size=num_points)
    y = mu + s * rng.standard_normal(num_points)
    narrow = mu + 0.5 * s * rng.standard_normal((num_members, num_points))
    wide = mu + 2.0 * s * rng.standard_normal((num_members, num_points))
    for c, members in ((0.5, narrow), (2.0, wide)):
        expected = _expected_coverage_of_scaled_ensemble(c, num_members, 0.9)
        assert central_coverage(y, members) == pytest.approx(expected, abs=0.01)
    # as S grows it tends to the coverage of the 90 % interval of N(0, c^2) for a N(0, 1) truth
    assert _expected_coverage_of_scaled_ensemble(0.5, 300, 0.9) == pytest.approx(
        2 * stats.norm.cdf(stats.norm.ppf(0.95) * 0.5) - 1, abs=5e-3
    )
    hist = rank_histogram(y, narrow, 10)
    assert hist[0] > 0.15 and hist[-1] > 0.15 and hist[5] < 0.07  # U-shaped
    hist = rank_histogram(y, wide, 10)
    assert hist[0] < 0.05 and hist[-1] < 0.05  # hump-shaped


def test_pit_histogram_matches_histogram_of_randomised_draws():
    rng = np.random.default_rng(8)
    x = _zero_inflated(rng, (8, 3, 400))
    y = _zero_inflated(rng, (3, 400))
    lo, hi = pit_interval(y, x)
    expected = pit_histogram(lo, hi, 5)  # (3, 5)
    assert expected.shape == (3, 5)
    np.testing.assert_allclose(expected.sum(-1), 1.0)
    draws = np.stack([randomised_pit(lo, hi, seed=k) for k in range(400)])  # (400, 3, 400)
    counts = np.stack([np.histogram(d, bins=5, range=(0, 1))[0] for d in draws.transpose(1, 0, 2)])
    np.testing.assert_allclose(expected, counts / counts.sum(-1, keepdims=True), atol=0.01)
    # degenerate intervals (a continuous CDF) land in one bin; 1.0 in the last
    np.testing.assert_allclose(
        pit_histogram([0.05, 0.5, 1.0, 0.99], [0.05, 0.5, 1.0, 0.99], 4), [0.25, 0, 0.25, 0.5]
    )


def test_cdf_route_for_continuous_and_point_mass_predictives():
    rng = np.random.default_rng(9)
    num_points = 20_000
    mu, s = rng.normal(size=num_points), rng.uniform(0.5, 2.0, size=num_points)
    y = mu + s * rng.standard_normal(num_points)
    cdf = stats.norm.cdf(y, mu, s)
    assert central_coverage_from_pit(*pit_interval_from_cdf(cdf, cdf)) == pytest.approx(0.9, abs=0.01)
    # zero-inflated Gamma truth, scored with its own CDF: F(0-) = 0, F(0) = p_dry; F(y) = p + (1-p) G(y) above
    p_dry = rng.uniform(0.2, 0.8, size=num_points)
    wet = rng.gamma(0.7, 3.0, size=num_points)
    y = np.where(rng.uniform(size=num_points) < p_dry, 0.0, wet)
    cdf = p_dry + (1 - p_dry) * stats.gamma.cdf(y, 0.7, scale=3.0)
    cdf_left = np.where(y == 0, 0.0, cdf)
    lo, hi = pit_interval_from_cdf(cdf_left, cdf)
    assert central_coverage_from_pit(lo, hi) == pytest.approx(0.9, abs=0.01)
    np.testing.assert_allclose(pit_histogram(lo, hi, 10, axis=None), np.full(10, 0.1), atol=0.01)
    # the point-mass-blind version (u = F(y)) piles every dry truth above p_dry: biased
    assert abs(central_coverage_from_pit(cdf, cdf) - 0.9) > 0.05


def test_nan_targets_ignored_nan_predictions_propagate():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(6, 2, 9)), rng.normal(size=(2, 9))
    y_nan = y.copy()
    y_nan[0, 4] = np.nan
    keep = ~np.isnan(y_nan)
    out = central_coverage(y_nan, x)
    assert out[0] == pytest.approx(central_coverage(y[0, keep[0]], x[:, 0, keep[0]]))
    np.testing.assert_allclose(central_coverage(y, x, mask=keep), out)
    np.testing.assert_allclose(
        rank_histogram(y_nan, x, 4)[0], rank_histogram(y[0, keep[0]], x[:, 0, keep[0]], 4)
    )
    assert np.all(np.isnan(pit_interval(y_nan, x)[0][0, 4]))
    x_bad = x.copy()
    x_bad[2, 1, 3] = np.nan
    assert math.isnan(central_coverage(y, x_bad)[1]) and math.isfinite(central_coverage(y, x_bad)[0])
    assert np.all(np.isnan(rank_histogram(y, x_bad, 4)[1]))
    lo, hi = pit_interval_from_cdf([0.2, np.nan], [0.2, 0.5], mask=np.array([True, False]))
    assert central_coverage_from_pit(lo, hi, mask=np.array([True, False])) == 1.0


def test_bad_inputs_have_messages():
    with pytest.raises(ValueError, match=r"0 <= F\(y-\) <= F\(y\) <= 1"):
        pit_interval_from_cdf([0.5], [0.2])
    with pytest.raises(ValueError, match="level"):
        central_coverage(np.zeros(3), np.zeros((2, 3)), level=0.0)
    with pytest.raises(ValueError, match="bins"):
        pit_histogram([0.1], [0.2], 0)
    with pytest.raises(ValueError, match="leading sample axis"):
        pit_interval(np.zeros(3), np.zeros(3))
