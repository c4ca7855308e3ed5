"""Kriging with external drift against the bordered (Lagrange) kriging system written out with numpy, and
on a synthetic field whose truth is a known linear function of a covariate plus a GP."""

import numpy as np
import pytest

from climate_bnnp.baselines import (
    BASELINE_MOMENTS,
    MIN_STD,
    fit_drift_kriging,
    gp_kriging_moments,
    kriging_cov,
    kriging_cov_moments,
)


def _ked_oracle(xc, yc, xt, drift_cols, lengthscale, amplitude, noise, kernel_cols=None):
    """Universal kriging by the Lagrange system [[K, H], [H^T, 0]] [w; l] = [k*; h*] per target, with the raw
    covariates as drift basis; kernel variances in units of s^2, s the std of the OLS residuals."""
    h_c = np.column_stack([np.ones(len(xc)), xc[:, drift_cols]])
    h_t = np.column_stack([np.ones(len(xt)), xt[:, drift_cols]])
    resid = yc - h_c @ np.linalg.lstsq(h_c, yc, rcond=None)[0]
    s2 = resid.std() ** 2
    if kernel_cols is not None:
        xc, xt = xc[:, kernel_cols], xt[:, kernel_cols]
    ell = np.broadcast_to(np.asarray(lengthscale, dtype=float), (xc.shape[1],))

    def cov(a, b):
        return s2 * amplitude * np.exp(-0.5 * (((a[:, None, :] - b[None, :, :]) / ell) ** 2).sum(-1))

    big_k = cov(xc, xc) + s2 * noise * np.eye(len(xc))
    p = h_c.shape[1]
    system = np.block([[big_k, h_c], [h_c.T, np.zeros((p, p))]])
    rhs = np.concatenate([cov(xc, xt), h_t.T], axis=0)  # (Nc + p, Nt)
    sol = np.linalg.solve(system, rhs)
    w, lag = sol[: len(xc)], sol[len(xc) :]
    mean = w.T @ yc
    var = s2 * (amplitude + noise) - np.einsum("it,it->t", w, cov(xc, xt)) - np.einsum("pt,tp->t", lag, h_t)
    return mean, np.sqrt(var)


def _inputs(rng, nc=40, nt=15, num_cov=2):
    x = rng.normal(size=(nc + nt, 3 + num_cov))
    x[:, 3:] = 5.0 + 3.0 * x[:, 3:]  # raw (unstandardised) covariates
    y = np.sin(2 * x[:, 0]) - x[:, 1] + 0.4 * x[:, 3] + 0.1 * rng.normal(size=nc + nt)
    return x[:nc], y[:nc], x[nc:]


@pytest.mark.parametrize("lengthscale", [0.8, [0.5, 1.3, 2.0, 4.0, 6.0]])
def test_fixed_hyperparameters_equal_the_lagrange_kriging_system(rng, lengthscale):
    xc, yc, xt = _inputs(rng)
    kw = dict(lengthscale=lengthscale, amplitude=1.3, noise=0.05)
    mean, std = kriging_cov_moments(xc, yc, xt, optimize=False, **kw)
    mean_o, std_o = _ked_oracle(xc, yc, xt, [3, 4], **kw)
    np.testing.assert_allclose(mean, mean_o, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std, std_o, rtol=1e-6, atol=1e-7)
    # fewer columns than positions + covariates: no covariate, the drift is the intercept (ordinary kriging)
    mean, std = kriging_cov_moments(
        xc[:, :3], yc, xt[:, :3], optimize=False, lengthscale=0.8, amplitude=1.3, noise=0.05
    )
    mean_o, std_o = _ked_oracle(xc[:, :3], yc, xt[:, :3], [], 0.8, 1.3, 0.05)
    np.testing.assert_allclose(mean, mean_o, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std, std_o, rtol=1e-6, atol=1e-7)


def test_kernel_over_positions_only(rng):
    xc, yc, xt = _inputs(rng)
    kw = dict(lengthscale=[0.5, 1.3, 2.0], amplitude=1.3, noise=0.05)
    mean, std = kriging_cov_moments(xc, yc, xt, optimize=False, kernel_columns="position", **kw)
    mean_o, std_o = _ked_oracle(xc, yc, xt, [3, 4], **kw, kernel_cols=[0, 1, 2])
    np.testing.assert_allclose(mean, mean_o, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std, std_o, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="kernel_columns must be one of"):
        kriging_cov_moments(xc, yc, xt, kernel_columns="covariates")


def test_drift_uncertainty_grows_away_from_the_context_covariates(rng):
    # with a fixed kernel, a target with an extreme covariate value is further from the drift's support:
    # the GLS term u^T (H^T K^-1 H)^-1 u makes its variance larger than at a typical covariate value
    xc, yc, xt = _inputs(rng, num_cov=1)
    fit = fit_drift_kriging(xc, yc, optimize=False, lengthscale=1.0, noise=0.05)
    typical, extreme = xt[:1].copy(), xt[:1].copy()
    typical[0, 3], extreme[0, 3] = xc[:, 3].mean(), xc[:, 3].mean() + 10 * xc[:, 3].std()
    extreme[0, :3] = typical[0, :3] = 50.0  # far from the context in position: only the drift is left
    (_, var_typical), (_, var_extreme) = fit.moments(typical), fit.moments(extreme)
    assert var_extreme[0] > 2 * var_typical[0]


def _grid_task(rng, n=16, slope=1.5, context_fraction=0.25):
    """A 10 x 10 degree tile on the unit sphere; truth = slope * c + g + noise, with the covariate c a
    short-range field (about 0.6 degrees) and g a longer-range GP (about 3 degrees)."""
    lat, lon = np.meshgrid(np.linspace(40, 50, n), np.linspace(0, 10, n), indexing="ij")
    phi, lam = np.deg2rad(lat.ravel()), np.deg2rad(lon.ravel())
    xyz = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)

    def draw(lengthscale):
        d2 = ((xyz[:, None] - xyz[None]) ** 2).sum(-1)
        chol = np.linalg.cholesky(np.exp(-0.5 * d2 / lengthscale**2) + 1e-8 * np.eye(len(xyz)))
        return chol @ rng.normal(size=len(xyz))

    cov = draw(0.01)
    y = slope * cov + draw(0.05) + 0.1 * rng.normal(size=len(xyz))
    context = rng.choice(len(xyz), int(context_fraction * len(xyz)), replace=False)
    targets = np.setdiff1d(np.arange(len(xyz)), context)
    return xyz, cov, y, context, targets


def test_covariate_kriging_beats_position_kriging_and_recovers_the_drift():
    rng = np.random.default_rng(21)
    xyz, cov, y, ctx, tgt = _grid_task(rng)
    x = np.column_stack([xyz, cov])
    fit = fit_drift_kriging(x[ctx], y[ctx], seed=0)
    # the GLS slope: 64 context points, residual sd about 1 and covariate sd about 1: se about 0.15
    assert fit.drift_coefficients == pytest.approx([1.5], abs=0.3)
    mean_cov, std_cov = kriging_cov_moments(x[ctx], y[ctx], x, seed=0)
    mean_pos, _ = gp_kriging_moments(xyz[ctx], y[ctx], xyz, seed=0)
    rmse_cov = np.sqrt(np.mean((mean_cov - y)[tgt] ** 2))
    rmse_pos = np.sqrt(np.mean((mean_pos - y)[tgt] ** 2))
    assert rmse_cov < 0.5 * rmse_pos
    # an honest spread: the mean squared z-score at the targets is near 1
    assert 0.6 < np.mean(((mean_cov - y) / std_cov)[tgt] ** 2) < 1.6
    # raw covariate units: the slope per unit scales inversely with the covariate
    assert fit_drift_kriging(np.column_stack([xyz, 10 * cov])[ctx], y[ctx], seed=0).drift_coefficients == (
        pytest.approx(fit.drift_coefficients / 10, rel=1e-3)
    )


def test_degenerate_covariates(rng):
    xc, yc, xt = _inputs(rng)
    # a covariate constant over the context is left out of the drift (coefficient 0), still finite
    xc[:, 4] = 2.0
    fit = fit_drift_kriging(xc, yc, optimize=False, lengthscale=1.0)
    assert fit.drift_coefficients[1] == 0.0 and fit.drift_coefficients[0] != 0.0
    mean, std = kriging_cov_moments(xc, yc, xt, num_restarts=0)
    assert np.all(np.isfinite(mean)) and np.all(std >= MIN_STD)
    # too few points for the drift (p + 2 = 4 > 3, p = 2 terms: intercept and column 3): intercept only
    assert fit_drift_kriging(xc[:4], yc[:4], optimize=False, lengthscale=1.0).drift_coefficients[0] != 0
    assert np.all(fit_drift_kriging(xc[:3], yc[:3], optimize=False, lengthscale=1.0).drift_coefficients == 0)
    with pytest.raises(ValueError, match="position_columns must be a non-negative int"):
        kriging_cov_moments(xc, yc, xt, position_columns=-1)


def test_samples_are_seeded_and_registered(rng):
    xc, yc, xt = _inputs(rng, nc=20, nt=4)
    assert BASELINE_MOMENTS["kriging_cov"] is kriging_cov_moments
    a = kriging_cov(xc, yc, xt, num_samples=3, seed=5, num_restarts=0)
    np.testing.assert_array_equal(a, kriging_cov(xc, yc, xt, num_samples=3, seed=5, num_restarts=0))
    assert a.shape == (3, 4)
