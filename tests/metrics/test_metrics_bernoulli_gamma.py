"""Bernoulli–Gamma density scores (the mixture scores of metrics.density with the registered likelihood)
against brute force with scipy.stats.gamma, alone and in score_predictions."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from climate_bnnp.likelihoods import get_likelihood
from climate_bnnp.metrics import log_predictive_density_mixture, nll_mixture, ppd_mixture, score_predictions

BG = get_likelihood("bernoulli_gamma")


def bernoulli_gamma_log_density(y, prob, shape, scale):
    return BG.log_density(y, {"prob": prob, "shape": shape, "scale": scale})


def log_predictive_density_bernoulli_gamma(y, prob, shape, scale, **kw):
    return log_predictive_density_mixture(y, BG, {"prob": prob, "shape": shape, "scale": scale}, **kw)


def ppd_bernoulli_gamma(y, prob, shape, scale, **kw):
    return ppd_mixture(y, "bernoulli_gamma", {"prob": prob, "shape": shape, "scale": scale}, **kw)


def nll_bernoulli_gamma(y, prob, shape, scale, **kw):
    return nll_mixture(y, BG, {"prob": prob, "shape": shape, "scale": scale}, **kw)


def _params(rng, s: int, n: int):
    return rng.uniform(0.05, 0.95, (s, n)), rng.uniform(0.2, 3.0, (s, n)), rng.uniform(0.1, 2.0, (s, n))


def _brute_density(y, prob, shape, scale):
    """(S, N) mixed density p_s(y_n) with scipy's Gamma pdf."""
    return np.where(y > 0, prob * stats.gamma.pdf(y, shape, scale=scale), 1.0 - prob)


def _truth(rng, n: int) -> np.ndarray:
    y = rng.gamma(0.8, 1.0, n)
    y[rng.random(n) < 0.4] = 0.0  # exact zeros: dry cells
    return y


def test_log_density_and_mixture_scores_match_scipy():
    rng = np.random.default_rng(0)
    prob, shape, scale = _params(rng, 7, 50)
    y = _truth(rng, 50)
    y[3] = np.nan
    dens = _brute_density(np.nan_to_num(y), prob, shape, scale)  # (S, N)
    logd = bernoulli_gamma_log_density(y, prob, shape, scale)
    ok = ~np.isnan(y)
    np.testing.assert_allclose(logd[:, ok], np.log(dens[:, ok]), rtol=1e-12)
    assert np.isnan(logd[:, 3]).all()
    lpd = log_predictive_density_bernoulli_gamma(y, prob, shape, scale)
    np.testing.assert_allclose(lpd[ok], np.log(dens[:, ok].mean(0)), rtol=1e-12)
    assert np.isnan(lpd[3])
    assert ppd_bernoulli_gamma(y, prob, shape, scale) == pytest.approx(np.log(dens[:, ok].mean()), rel=1e-12)
    assert nll_bernoulli_gamma(y, prob, shape, scale) == pytest.approx(
        -np.log(dens[:, ok].mean(0)).mean(), rel=1e-12
    )
    # one value per task along a leading axis; a mask drops points
    y2, p2 = y[:40].reshape(2, 20), [a[:, :40].reshape(7, 2, 20) for a in (prob, shape, scale)]  # y[3] NaN
    mask = np.arange(20) % 4 != 0
    per_task = ppd_bernoulli_gamma(y2, *p2, mask=mask)
    for t in range(2):
        keep = mask & ~np.isnan(y2[t])
        d = _brute_density(y2[t, keep], *(a[:, t, keep] for a in p2))
        assert per_task[t] == pytest.approx(np.log(d.mean()), rel=1e-12)


def test_bad_parameters_are_refused_and_nan_predictions_propagate():
    rng = np.random.default_rng(1)
    prob, shape, scale = _params(rng, 4, 6)
    y = _truth(rng, 6)
    bad_shape = shape.copy()
    bad_shape[0, 2] = -1.0
    with pytest.raises(ValueError, match=r"0 <= prob <= 1, shape > 0 and scale > 0; 1 entries"):
        ppd_bernoulli_gamma(y, prob, bad_shape, scale)
    with pytest.raises(ValueError, match=r"shape: expected a shape that broadcasts to the samples' \(4, 6\)"):
        nll_bernoulli_gamma(y, prob, shape[:2], scale)
    prob[1, 2] = np.nan
    assert np.isnan(nll_bernoulli_gamma(y, prob, shape, scale))
    assert np.isnan(log_predictive_density_bernoulli_gamma(y, prob, shape, scale)[2])


def _bg_prediction(seed: int = 0, tasks: int = 3, cells: int = 30, samples: int = 16):
    rng = np.random.default_rng(seed)
    n = tasks * cells
    prob, shape, scale = _params(rng, samples, n)
    draws = np.where(rng.random((samples, n)) < prob, rng.gamma(shape, scale), 0.0)
    pred = xr.Dataset(
        {
            "mean": ("cell", (prob * shape * scale).mean(0)),
            "predictive_samples": (("sample", "cell"), 2.0 * draws),  # physical units: tp = 2 y
            "bg_prob": (("sample", "cell"), prob),
            "bg_shape": (("sample", "cell"), shape),
            "bg_scale": (("sample", "cell"), scale),
        },
        coords={"task": ("cell", np.repeat(np.arange(tasks), cells))},
        attrs={"likelihood": "bernoulli_gamma"},
    )
    z = _truth(rng, n)
    truth = xr.DataArray(2.0 * z, dims="cell", coords={"task": pred["task"]}, attrs={"units": "mm"})
    return pred, truth, truth / 2.0


def test_score_predictions_uses_the_bernoulli_gamma_density():
    pred, truth, z = _bg_prediction()
    where = xr.DataArray(np.arange(truth.size) % 7 != 0, dims="cell")
    out = score_predictions(pred, truth, truth_normalised=z, where=where)
    for t in range(3):
        cells = (pred["task"].values == t) & where.values
        dens = _brute_density(
            z.values[cells], *(pred[n].values[:, cells] for n in ("bg_prob", "bg_shape", "bg_scale"))
        )
        assert float(out["ppd"][t]) == pytest.approx(np.log(dens.mean()), rel=1e-10)
        assert float(out["nll"][t]) == pytest.approx(-np.log(dens.mean(0)).mean(), rel=1e-10)
    assert out["ppd"].attrs["units"] == "normalised"
    # the sample-based scores are the same as without the parameters
    plain = score_predictions(pred.drop_vars(["bg_prob", "bg_shape", "bg_scale"]), truth, where=where)
    for name in ("mae", "crps", "coverage90", "brier_rain"):
        np.testing.assert_array_equal(out[name].values, plain[name].values)
    assert "ppd" not in plain
    with pytest.raises(ValueError, match=r"lacks \['bg_scale'\] of the 'bernoulli_gamma' density's"):
        score_predictions(pred.drop_vars("bg_scale"), truth, truth_normalised=z)
    with pytest.raises(ValueError, match=r"unknown likelihood 'poisson'; the registered likelihoods are"):
        score_predictions(pred.assign_attrs(likelihood="poisson"), truth, truth_normalised=z)


def test_the_logit_keeps_saturated_probabilities_finite():
    """π rounds to 1 at logit 40: log(1 − π) from π is −inf, from the logit it is −40 (as in training)."""
    y = np.array([0.0, 1.0])
    params = {"prob": np.full((1, 2), 1.0), "shape": np.ones((1, 2)), "scale": np.ones((1, 2))}
    assert np.isposinf(nll_mixture(y, BG, params))
    stable = nll_mixture(y, BG, params | {"logit": np.full((1, 2), 40.0)})
    assert stable == pytest.approx((40.0 + 1.0) / 2, rel=1e-12)  # −log(1 − π) = 40 at y = 0; y = 1: y/θ
