"""Baselines against oracles that do not share their code: the closed-form GP posterior, brute-force IDW,
moments, Monte-Carlo convergence, degenerate contexts and input errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from climate_bnnp.baselines import (
    BASELINE_MOMENTS,
    BASELINES,
    MIN_STD,
    context_mean_moments,
    fit_gp,
    gp_kriging_moments,
    idw_mean,
    idw_moments,
)

ROOT = Path(__file__).resolve().parents[2]


def _task(rng, nc=40, nt=25, dim=3):
    xc, xt = rng.normal(size=(nc, dim)), rng.normal(size=(nt, dim))
    f = lambda x: np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 - x[:, 2]  # noqa: E731
    return xc, f(xc) + 0.1 * rng.normal(size=nc), xt


def _gp_oracle(xc, yc, xt, lengthscale, amplitude, noise):
    """Exact GP predictive of an observation, written out with numpy (standardised y, like normalize_y)."""
    m, s = yc.mean(), yc.std()
    ell = np.broadcast_to(np.asarray(lengthscale, dtype=float), (xc.shape[1],))

    def k(a, b):
        r2 = (((a[:, None, :] - b[None, :, :]) / ell) ** 2).sum(-1)
        return amplitude * np.exp(-0.5 * r2)

    big_k = k(xc, xc) + noise * np.eye(len(xc))
    ks = k(xt, xc)
    mean = m + s * ks @ np.linalg.solve(big_k, (yc - m) / s)
    var = s**2 * (amplitude + noise - np.einsum("ij,ji->i", ks, np.linalg.solve(big_k, ks.T)))
    return mean, np.sqrt(var)


@pytest.mark.parametrize("lengthscale", [0.7, [0.5, 1.3, 2.0]])
def test_kriging_fixed_hyperparameters_equal_closed_form_gp(rng, lengthscale):
    xc, yc, xt = _task(rng)
    kw = dict(lengthscale=lengthscale, amplitude=1.7, noise=0.05)
    mean, std = gp_kriging_moments(xc, yc, xt, optimize=False, **kw)
    mean_o, std_o = _gp_oracle(xc, yc, xt, **kw)
    np.testing.assert_allclose(mean, mean_o, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(std, std_o, rtol=1e-7, atol=1e-8)
    # at a context point the observation std stays above the white noise: s * sqrt(σ²) at least
    _, std_c = gp_kriging_moments(xc, yc, xc[:3], optimize=False, **kw)
    assert np.all(std_c >= yc.std() * np.sqrt(0.05) - 1e-12)


def test_kriging_fit_recovers_generating_hyperparameters():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 5, size=(200, 1))
    true_ell, true_noise = 0.6, 0.05**2
    cov = np.exp(-0.5 * (x - x.T) ** 2 / true_ell**2) + true_noise * np.eye(200)
    y = np.linalg.cholesky(cov + 1e-9 * np.eye(200)) @ rng.normal(size=200)
    gp = fit_gp(x, y, seed=0)
    params = gp.kernel_.get_params()
    fitted_ell = params["k1__k2__length_scale"]
    fitted_noise = params["k2__noise_level"] * gp._y_train_std**2  # back to the units of y
    assert 0.5 * true_ell < fitted_ell < 2 * true_ell
    assert 0.3 * true_noise < fitted_noise < 3 * true_noise
    # and the fitted predictive is close to the one with the true hyperparameters
    xt = rng.uniform(0, 5, size=(50, 1))
    mean, _ = gp_kriging_moments(x, y, xt, seed=0)
    s2 = y.std() ** 2
    mean_true, _ = _gp_oracle(x, y, xt, true_ell, 1.0 / s2, true_noise / s2)
    assert np.sqrt(np.mean((mean - mean_true) ** 2)) < 0.1


def test_kriging_fits_hyperparameters_on_a_subset_but_conditions_on_all_points(rng):
    xc, yc, xt = _task(rng, nc=80)
    gp = fit_gp(xc, yc, max_fit_points=30, seed=1)
    assert gp.X_train_.shape == (80, 3)
    assert gp.kernel_ != fit_gp(xc, yc, seed=1).kernel_  # a different (subset) fit ...
    mean, _ = gp_kriging_moments(xc, yc, xt, max_fit_points=30, seed=1)
    np.testing.assert_allclose(mean, gp.predict(xt))  # ... whose predictive uses every context point


def test_kriging_beats_context_mean_on_a_smooth_field(rng):
    xc, yc, xt = _task(rng, nc=150, nt=100)
    yt = np.sin(2 * xt[:, 0]) + 0.5 * xt[:, 1] ** 2 - xt[:, 2]
    rmse = {name: np.sqrt(np.mean((f(xc, yc, xt)[0] - yt) ** 2)) for name, f in BASELINE_MOMENTS.items()}
    assert rmse["kriging"] < 0.5 * rmse["idw"] < 0.5 * rmse["context_mean"]


def _idw_brute_force(xc, yc, x, power):
    out = []
    for point in x:
        d = np.sqrt(((xc - point) ** 2).sum(-1))
        if np.any(d == 0):
            out.append(yc[d == 0].mean())
        else:
            w = 1.0 / d**power
            out.append((w * yc).sum() / w.sum())
    return np.array(out)


@pytest.mark.parametrize("power", [1.0, 2.0, 3.5])
def test_idw_matches_brute_force_weighted_mean(rng, power):
    xc, yc, xt = _task(rng, nc=30, nt=20)
    expected = _idw_brute_force(xc, yc, xt, power)
    np.testing.assert_allclose(idw_mean(xc, yc, xt, power=power, chunk_size=7), expected)


def test_idw_interpolates_context_exactly_and_loo_std_is_the_rms_error(rng):
    xc, yc, _ = _task(rng, nc=30)
    mean, std = idw_moments(xc, yc, xc[[3, 11]], chunk_size=8)
    np.testing.assert_array_equal(mean, yc[[3, 11]])
    loo = [_idw_brute_force(np.delete(xc, i, 0), np.delete(yc, i), xc[i : i + 1], 2.0)[0] for i in range(30)]
    np.testing.assert_allclose(std, np.sqrt(np.mean((np.array(loo) - yc) ** 2)), rtol=1e-12)


def test_idw_duplicate_context_points_average():
    xc = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    yc = np.array([1.0, 3.0, 10.0])
    mean, std = idw_moments(xc, yc, np.array([[0.0, 0.0], [0.5, 0.0]]))
    assert mean[0] == 2.0
    assert mean[1] == pytest.approx((1 + 3 + 10) / 3)  # equal distances to all three
    # leave-one-out: each duplicate is predicted by its twin, the far point by the pair's mean
    assert std[0] == pytest.approx(np.sqrt((2**2 + 2**2 + 8**2) / 3))


def test_context_mean_moments(rng):
    xc, yc, xt = _task(rng)
    mean, std = context_mean_moments(xc, yc, xt)
    np.testing.assert_allclose(mean, np.full(len(xt), np.sum(yc) / len(yc)))
    np.testing.assert_allclose(std, np.full(len(xt), np.sqrt(np.sum((yc - yc.mean()) ** 2) / len(yc))))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_samples_converge_to_the_stated_moments(rng, name):
    xc, yc, xt = _task(rng, nc=40, nt=10)
    num_samples = 40_000
    samples = BASELINES[name](xc, yc, xt, num_samples=num_samples, seed=3)
    mean, std = (
        BASELINE_MOMENTS[name](xc, yc, xt, seed=3)
        if name.startswith("kriging")
        else BASELINE_MOMENTS[name](xc, yc, xt)
    )
    assert samples.shape == (num_samples, 10) and samples.dtype == np.float64
    # 5 standard errors: the mean's is std/sqrt(S), the std's about std/sqrt(2S)
    assert np.all(np.abs(samples.mean(0) - mean) < 5 * std / np.sqrt(num_samples))
    assert np.all(np.abs(samples.std(0) - std) < 5 * std / np.sqrt(2 * num_samples))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_seeded_reproducibility(rng, name):
    xc, yc, xt = _task(rng, nc=20, nt=5)
    a = BASELINES[name](xc, yc, xt, num_samples=4, seed=11)
    b = BASELINES[name](xc, yc, xt, num_samples=4, seed=11)
    c = BASELINES[name](xc, yc, xt, num_samples=4, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize(
    "case",
    ["single_point", "constant", "duplicates"],
)
def test_degenerate_contexts_give_finite_predictives(rng, name, case):
    xt = rng.normal(size=(6, 2))
    if case == "single_point":
        xc, yc = np.array([[0.1, 0.2]]), np.array([1.5])
    elif case == "constant":
        xc, yc = rng.normal(size=(8, 2)), np.full(8, -0.3)
    else:
        xc = np.repeat(rng.normal(size=(4, 2)), 3, axis=0)
        yc = rng.normal(size=12)
    mean, std = BASELINE_MOMENTS[name](xc, yc, xt)
    samples = BASELINES[name](xc, yc, xt, num_samples=3, seed=0)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(samples)) and np.all(std >= MIN_STD)
    if case != "duplicates":  # the context says "always this value"
        np.testing.assert_allclose(mean, yc[0])
        np.testing.assert_allclose(std, MIN_STD)


Z = np.zeros
NAN_Y = np.array([0, 1, np.nan, 0, 0])


@pytest.mark.parametrize(
    ("xc", "yc", "xt", "match"),
    [
        (Z(5), Z(5), Z((2, 1)), r"xc must have shape \(Nc, D\), got \(5,\).*reshape"),
        (Z((0, 2)), Z(0), Z((2, 2)), "at least one context point"),
        (Z((5, 2)), Z((5, 1)), Z((2, 2)), r"yc must have shape \(Nc,\) = \(5,\).*got \(5, 1\).*1-D"),
        (Z((5, 2)), Z(5), Z((2, 3)), r"xt must have shape \(Nt, 2\).*got \(2, 3\).*same"),
        (Z((5, 2)), NAN_Y, Z((2, 2)), "yc must be finite, got 1 NaN.*drop"),
    ],
)
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_bad_inputs_raise_clear_errors(name, xc, yc, xt, match):
    with pytest.raises(ValueError, match=match):
        BASELINES[name](xc, yc, xt, num_samples=2, seed=0)


def test_bad_options_raise_clear_errors(rng):
    xc, yc, xt = _task(rng, nc=10, nt=3)
    with pytest.raises(ValueError, match="num_samples must be a positive integer, got 0"):
        BASELINES["idw"](xc, yc, xt, num_samples=0, seed=0)
    with pytest.raises(ValueError, match="power must be positive"):
        idw_moments(xc, yc, xt, power=0)
    with pytest.raises(ValueError, match=r"lengthscale must be one positive number or 3"):
        gp_kriging_moments(xc, yc, xt, optimize=False, lengthscale=[1.0, 2.0])


def test_baselines_do_not_load_torch():
    code = "import sys, climate_bnnp.baselines; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
