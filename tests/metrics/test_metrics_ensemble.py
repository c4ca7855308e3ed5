"""Ensemble scores against oracles that share no code: brute-force loops, scoringrules, the integral
definition of the twCRPS, and Monte Carlo with closed-form expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from climate_bnnp.metrics import (
    brier_score,
    brier_score_ensemble,
    crps_samples,
    exceedance_probability,
    mae_of_median,
    pooled_spread_skill_ratio,
    spread_skill,
    spread_skill_ratio,
    twcrps_samples,
)

# ---------------------------------------------------------------- spread-skill


def test_spread_skill_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 2, 7))  # (M, B, N)
    y = rng.normal(size=(2, 7))
    spread, skill = spread_skill(y, x)
    for b in range(2):
        var = [sum((x[m, b, n] - x[:, b, n].mean()) ** 2 for m in range(5)) / 4 for n in range(7)]
        err = [(x[:, b, n].mean() - y[b, n]) ** 2 for n in range(7)]
        assert spread[b] == pytest.approx(math.sqrt(6 / 5 * sum(var) / 7), rel=1e-12)
        assert skill[b] == pytest.approx(math.sqrt(sum(err) / 7), rel=1e-12)
    np.testing.assert_allclose(spread_skill_ratio(y, x), spread / skill, rtol=1e-12)


@pytest.mark.parametrize("num_members", [2, 5, 32])
def test_spread_skill_ratio_is_one_for_a_calibrated_ensemble(num_members):
    # truth and members iid N(mu_n, s_n^2): E[spread^2] = E[skill^2] = mean s^2 (M+1)/M. The ratio of two
    # means of 50,000 squares has a relative sd below 0.02 (s varies by 4x): tolerance 0.04.
    rng = np.random.default_rng(num_members)
    num_points = 50_000
    mu, s = rng.normal(size=num_points), rng.uniform(0.5, 2.0, size=num_points)
    y = mu + s * rng.standard_normal(num_points)
    x = mu + s * rng.standard_normal((num_members, num_points))
    assert spread_skill_ratio(y, x) == pytest.approx(1.0, abs=0.04)
    # the unbiased member variance alone reads sqrt(M/(M+1)): 0.816 for M = 2
    plain = np.sqrt(np.var(x, axis=0, ddof=1).mean() / np.mean((x.mean(0) - y) ** 2))
    assert plain == pytest.approx(math.sqrt(num_members / (num_members + 1)), abs=0.04)
    # an under-dispersed ensemble (half the spread): ratio sqrt((M+1)/M / 4 / (1 + 1/(4M)))
    x_narrow = mu + 0.5 * s * rng.standard_normal((num_members, num_points))
    expected = math.sqrt((num_members + 1) / num_members / 4 / (1 + 1 / (4 * num_members)))
    assert spread_skill_ratio(y, x_narrow) == pytest.approx(expected, rel=0.04)


def test_pooled_spread_skill_equals_the_ratio_over_all_points():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(6, 4, 30)), rng.normal(size=(4, 30))
    y[1, :12] = np.nan  # tasks of different sizes
    spread, skill = spread_skill(y, x)
    counts = (~np.isnan(y)).sum(-1)
    pooled = pooled_spread_skill_ratio(spread, skill, counts)
    assert pooled == pytest.approx(spread_skill_ratio(y, x, axis=None), rel=1e-12)
    assert pooled_spread_skill_ratio(spread, skill) == pytest.approx(
        math.sqrt(np.mean(spread**2) / np.mean(skill**2)), rel=1e-12
    )
    with pytest.raises(ValueError, match="one value per task"):
        pooled_spread_skill_ratio(spread, skill[:2])


def test_spread_skill_nan_and_errors():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 9)), rng.normal(size=9)
    y_nan = y.copy()
    y_nan[3] = np.nan
    keep = ~np.isnan(y_nan)
    np.testing.assert_allclose(spread_skill(y_nan, x), spread_skill(y[keep], x[:, keep]), rtol=1e-12)
    np.testing.assert_allclose(spread_skill(y, x, mask=keep), spread_skill(y[keep], x[:, keep]), rtol=1e-12)
    x_bad = x.copy()
    x_bad[0, 1] = np.nan
    assert all(math.isnan(v) for v in spread_skill(y, x_bad))
    with pytest.raises(ValueError, match="at least 2 ensemble members"):
        spread_skill(y, x[:1])


# ---------------------------------------------------------------- Brier


def test_brier_hand_example_and_scoringrules():
    sr = pytest.importorskip("scoringrules")
    y = np.array([0.0, 0.05, 0.5, 2.0])
    x = np.array([[0.0, 0.2, 0.0, 3.0], [0.0, 0.0, 1.2, 0.9], [0.3, 0.0, 0.0, 1.1], [0.0, 0.0, 0.0, 0.0]])
    p = exceedance_probability(x, 0.1)
    np.testing.assert_allclose(p, [0.25, 0.25, 0.25, 0.75])
    obs = np.array([0, 0, 1, 1])
    expected = np.mean((p - obs) ** 2)
    assert brier_score_ensemble(y, x, 0.1) == pytest.approx(expected)
    assert brier_score(y, p, 0.1) == pytest.approx(float(np.mean(sr.brier_score(obs, p))))
    # fair: minus p(1-p)/(S-1) per point
    assert brier_score_ensemble(y, x, 0.1, fair=True) == pytest.approx(expected - np.mean(p * (1 - p) / 3))
    # the event is strict: y = threshold is "not above"
    assert brier_score(np.array([1.0]), np.array([1.0]), 1.0) == 1.0


def test_brier_several_thresholds_give_a_leading_axis():
    rng = np.random.default_rng(2)
    x = rng.gamma(0.6, 2.0, size=(8, 3, 20))
    y = rng.gamma(0.6, 2.0, size=(3, 20))
    out = brier_score_ensemble(y, x, (0.1, 1.0, 5.0))
    assert out.shape == (3, 3)
    for i, t in enumerate((0.1, 1.0, 5.0)):
        np.testing.assert_allclose(out[i], brier_score_ensemble(y, x, t), rtol=1e-12)
        np.testing.assert_allclose(out[i], (((x > t).mean(0) - (y > t)) ** 2).mean(-1), rtol=1e-12)
    probs = np.stack([(x > t).mean(0) for t in (0.1, 1.0, 5.0)])
    np.testing.assert_allclose(brier_score(y, probs, [0.1, 1.0, 5.0]), out, rtol=1e-12)


def test_fair_brier_is_unbiased_for_small_ensembles():
    # members and truth exceed the threshold with probability q_n:
    # E[plain] = q(1-q)(1 + 1/S), E[fair] = q(1-q)
    rng = np.random.default_rng(3)
    num_members, num_points = 3, 400_000
    q = rng.uniform(0.05, 0.95, size=num_points)
    y = (rng.uniform(size=num_points) < q).astype(float)
    x = (rng.uniform(size=(num_members, num_points)) < q).astype(float)
    target = np.mean(q * (1 - q))
    # per-point scores are in [-0.5, 1] with sd < 0.3: the means have sd < 5e-4, tolerance 3e-3
    assert brier_score_ensemble(y, x, 0.5, fair=True) == pytest.approx(target, abs=3e-3)
    assert brier_score_ensemble(y, x, 0.5) == pytest.approx(target * (1 + 1 / num_members), abs=3e-3)


def test_brier_nan_and_errors():
    y = np.array([0.0, np.nan, 2.0])
    x = np.array([[0.0, 1.0, 3.0], [0.5, 1.0, 0.0]])
    assert brier_score_ensemble(y, x, 0.1) == pytest.approx(((0.5 - 0) ** 2 + (0.5 - 1) ** 2) / 2)
    x_bad = x.copy()
    x_bad[1, 2] = np.nan
    assert np.isnan(exceedance_probability(x_bad, 0.1)[2])
    assert math.isnan(brier_score_ensemble(y, x_bad, 0.1))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        brier_score(y, np.array([0.2, 1.5, 0.0]), 0.1)
    with pytest.raises(ValueError, match="leading threshold axis"):
        brier_score(y, np.array([0.2, 0.5, 0.0]), [0.1, 1.0])
    with pytest.raises(ValueError, match="threshold"):
        brier_score_ensemble(y, x, [[0.1]])
    with pytest.raises(ValueError, match="at least 2 samples"):
        brier_score_ensemble(y, x[:1], 0.1, fair=True)


# ---------------------------------------------------------------- threshold-weighted CRPS


def _twcrps_integral(y, x, t):
    """int_t^inf (F_ens(z) - 1{y <= z})^2 dz, exactly: the integrand is constant between breakpoints."""
    points = np.unique(np.concatenate([[t], x[x > t], [y] if y > t else []]))
    total = 0.0
    for a, b in zip(points[:-1], points[1:], strict=True):
        z = 0.5 * (a + b)
        total += ((x <= z).mean() - float(y <= z)) ** 2 * (b - a)
    return total


def test_twcrps_equals_the_integral_definition_and_scoringrules():
    rng = np.random.default_rng(4)
    x = np.where(rng.uniform(size=(11, 15)) < 0.3, 0.0, rng.gamma(0.7, 4.0, size=(11, 15)))
    y = np.where(rng.uniform(size=15) < 0.3, 0.0, rng.gamma(0.7, 4.0, size=15))
    t = 2.0
    expected = [_twcrps_integral(y[n], x[:, n], t) for n in range(15)]
    np.testing.assert_allclose(twcrps_samples(y, x, t), expected, rtol=1e-10, atol=1e-12)
    sr = pytest.importorskip("scoringrules")
    for fair, estimator in ((False, "nrg"), (True, "fair")):
        ref = sr.twcrps_ensemble(y, x, m_axis=0, v_func=lambda z: np.maximum(z, t), estimator=estimator)
        np.testing.assert_allclose(twcrps_samples(y, x, t, fair=fair), ref, rtol=1e-10, atol=1e-12)


def test_twcrps_limits():
    rng = np.random.default_rng(5)
    x, y = rng.gamma(1.0, size=(6, 10)), rng.gamma(1.0, size=10)
    # below every value the weight is 1 everywhere: the plain CRPS
    np.testing.assert_allclose(twcrps_samples(y, x, -1.0), crps_samples(y, x), rtol=1e-12)
    # above every value nothing counts
    np.testing.assert_array_equal(twcrps_samples(y, x, 100.0), np.zeros(10))
    y[2] = np.nan
    assert np.isnan(twcrps_samples(y, x, 1.0)[2])
    with pytest.raises(ValueError, match="one number"):
        twcrps_samples(y, x, [1.0, 2.0])


# ---------------------------------------------------------------- MAE of the median


def test_mae_of_median_brute_force_and_optimality():
    rng = np.random.default_rng(6)
    x = rng.gamma(0.5, 2.0, size=(7, 4, 30))  # odd S: the median is the 4th order statistic
    y = rng.gamma(0.5, 2.0, size=(4, 30))
    med = np.sort(x, axis=0)[3]
    np.testing.assert_allclose(mae_of_median(y, x), np.abs(med - y).mean(-1), rtol=1e-12)
    # the median minimises the mean absolute error to the members themselves (a skewed distribution):
    # its MAE against draws from the predictive is below that of the mean
    draws = rng.gamma(0.5, 2.0, size=(1, 200_000))
    members = rng.gamma(0.5, 2.0, size=(1001, 1))
    assert mae_of_median(draws[0], members, axis=None) < np.mean(np.abs(members.mean() - draws))
    y_nan = y.copy()
    y_nan[0, 0] = np.nan
    assert mae_of_median(y_nan, x)[0] == pytest.approx(np.abs(med - y)[0, 1:].mean())
