"""GIVI on a linear model is Bayesian linear regression: exact at the right pseudo-noise, and fitted by
the ELBO from another start it approaches the closed-form posterior."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.oracles import blr_posterior, features  # tests/ is on sys.path

from climate_bnnp.inference import build_givi, fit_givi
from climate_bnnp.layers import accumulate_natural


def _givi_posterior(model, x, y):
    layer = model.layers[0]
    xs, ys = torch.as_tensor(x)[None], torch.as_tensor(y)[None]
    yhat, lam = layer.pseudo_observations(xs, ys, None, None)
    post = layer.posterior(accumulate_natural(layer.features(xs[None]), lam[None], yhat[None]))
    cov = post.chol_inv.mT @ post.chol_inv
    return post.mean.detach().reshape(-1).numpy(), cov.detach().reshape(3, 3).numpy()


def test_givi_on_a_linear_model_is_the_closed_form_posterior():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    sigma = 0.3
    y = (x @ np.array([0.5, -1.0]) + 0.2 + sigma * rng.normal(size=30))[:, None]
    mean, cov = blr_posterior(features(x), y[:, 0], sigma, np.eye(3) / 3)  # W ~ N(0, I / D)
    # pseudo-noise = σ at every point: GIVI's posterior is the exact one
    model = build_givi(30, 2, (), learn_noise=False, noise_init=sigma)
    with torch.no_grad():
        model.layers[0].inference_net.table.fill_(math.log(sigma) + 2.0)  # log σ = raw − 2
    got_mean, got_cov = _givi_posterior(model, x, y)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-4, atol=1e-5)  # PRECISION_FLOOR 1e-6 on σ²
    np.testing.assert_allclose(got_cov, cov, rtol=1e-4, atol=1e-7)
    # fitted by the ELBO from a different start, it approaches the exact posterior
    fitted = fit_givi(x, y, (), steps=150, num_samples=8, lr=0.05, final_lr=0.01, learn_noise=False,
                      noise_init=sigma)  # fmt: skip
    start = build_givi(30, 2, (), learn_noise=False, noise_init=sigma)  # pseudo-noise 0.37, not σ = 0.3

    def cov_error(m):
        return np.abs(_givi_posterior(m, x, y)[1] - cov).max() / np.abs(cov).max()

    assert cov_error(fitted) < 0.1 < 0.3 < cov_error(start)
    assert np.abs(_givi_posterior(fitted, x, y)[0] - mean).max() < 0.03
    with pytest.raises(ValueError, match="inducing inputs"):
        fitted(torch.as_tensor(x[:5])[None], torch.as_tensor(y[:5])[None], torch.as_tensor(x)[None])
