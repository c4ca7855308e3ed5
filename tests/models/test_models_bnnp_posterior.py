"""The BNNP posterior against closed forms: Bayesian linear regression, the prior, chunked streaming."""

import numpy as np
import pytest
import torch
from helpers.models import randomise_prior  # tests/ is on sys.path, see tests/conftest.py
from helpers.oracles import blr_posterior, features

from climate_bnnp import BNNP
from climate_bnnp.layers import accumulate_natural


def _numpy_prior(prior) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and covariance rebuilt from the raw parameters (independent of the module's maths)."""
    mean = prior.mean.detach().cpu().numpy()
    scale = np.exp(prior.log_scale.detach().cpu().numpy())
    lower = np.tril(prior.offdiag.detach().cpu().numpy(), -1) if prior.kind == "full" else 0.0
    chol = np.einsum("ji,ik->jik", scale, np.eye(scale.shape[1])) + lower
    return mean, chol @ np.swapaxes(chol, 1, 2) / prior.fan_in


@pytest.mark.parametrize("prior_type", ["full", "diagonal"])
def test_exact_final_layer_equals_bayesian_linear_regression(prior_type, device):
    sigma = 0.3
    model = BNNP(
        dim_x=3,
        dim_y=2,
        hidden_dims=(),
        exact_final_layer=True,
        noise_init=sigma,
        learn_noise=False,
        prior_type=prior_type,
    ).double()
    randomise_prior(model)
    model.to(device)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(25, 3)), rng.normal(size=(25, 2))
    layer = model.layers[0]
    xc, yc = torch.from_numpy(x)[None].to(device), torch.from_numpy(y)[None].to(device)
    yhat, lam = layer.pseudo_observations(xc, yc, None, model.likelihood.std())
    posterior = layer.posterior(accumulate_natural(layer.features(xc[None]), lam[None], yhat[None]))
    cov = torch.cholesky_inverse(posterior.chol)[0, 0].detach().cpu().numpy()  # (J, D, D)
    mu0, sigma0 = _numpy_prior(layer.prior)
    for j in range(2):
        mean_blr, cov_blr = blr_posterior(features(x), y[:, j], sigma, sigma0[j], mu0[j])
        mean = posterior.mean[0, 0, j].detach().cpu().numpy()
        np.testing.assert_allclose(mean, mean_blr, rtol=0, atol=1e-8)
        np.testing.assert_allclose(cov[j], cov_blr, rtol=0, atol=1e-8)


@pytest.mark.parametrize("grad", [False, True])
def test_chunked_posterior_equals_full_batch_for_the_whole_network(grad, device):
    model = BNNP(dim_x=2, dim_y=1, hidden_dims=(16, 8), inf_hidden_dims=(16,)).double()
    randomise_prior(model)
    model.to(device)
    xc, yc = torch.randn(3, 37, 2, dtype=torch.float64), torch.randn(3, 37, 1, dtype=torch.float64)
    mask = torch.rand(3, 37) > 0.2
    xc, yc, mask = xc.to(device), yc.to(device), mask.to(device)
    with torch.set_grad_enabled(grad):
        torch.manual_seed(5)
        full = model.sample_weights(xc, yc, mask, num_samples=4)
        for chunk in np.random.default_rng(1).integers(1, 37, size=4):
            torch.manual_seed(5)
            chunked = model.sample_weights(xc, yc, mask, num_samples=4, chunk_size=int(chunk))
            for a, b in zip(full.weights, chunked.weights, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
            torch.testing.assert_close(full.kl, chunked.kl, rtol=1e-12, atol=1e-10)


def test_padding_with_a_mask_equals_the_task_alone():
    model = BNNP(dim_x=1, dim_y=1, hidden_dims=(8,), inf_hidden_dims=(8,)).double()
    x, y = torch.randn(1, 9, 1, dtype=torch.float64), torch.randn(1, 9, 1, dtype=torch.float64)
    padded_x = torch.cat([x, torch.zeros(1, 4, 1, dtype=torch.float64)], 1)
    padded_y = torch.cat([y, 99 * torch.ones(1, 4, 1, dtype=torch.float64)], 1)
    mask = torch.arange(13)[None] < 9
    layer = model.layers[0]  # the first layer's posterior does not depend on samples
    with torch.no_grad():

        def first_posterior(xc, yc, m):
            yhat, lam = layer.pseudo_observations(xc, yc, m)
            return layer.posterior(accumulate_natural(layer.features(xc[None]), lam[None], yhat[None]))

        alone, padded = first_posterior(x, y, None), first_posterior(padded_x, padded_y, mask)
    torch.testing.assert_close(alone.mean, padded.mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(alone.chol, padded.chol, rtol=0, atol=1e-12)


@pytest.mark.parametrize("prior_type", ["full", "diagonal"])
def test_no_context_samples_match_the_prior(prior_type):
    model = BNNP(dim_x=2, dim_y=1, hidden_dims=(3,), prior_type=prior_type).double()
    randomise_prior(model, seed=4)
    num = 40_000
    with torch.no_grad():
        sample = model.sample_weights(None, None, num_samples=num, num_tasks=1)
    assert torch.equal(sample.kl, torch.zeros(num, 1, dtype=torch.float64))
    for layer, w in zip(model.layers, sample.weights, strict=True):
        mean, cov = _numpy_prior(layer.prior)
        draws = w[:, 0].numpy()  # (S, J, D)
        se = np.sqrt(np.einsum("jii->ji", cov) / num)
        # Monte-Carlo tolerance: 5 standard errors for the means, 0.05 × max variance for covariances.
        assert np.all(np.abs(draws.mean(0) - mean) < 5 * se)
        for j in range(draws.shape[1]):
            np.testing.assert_allclose(np.cov(draws[:, j].T), cov[j], atol=0.05 * cov[j].max(), rtol=0)


def _prior_predictive(model, xt, num):
    with torch.no_grad():
        out = model(None, None, torch.from_numpy(xt)[None], num_samples=num)
    assert out.ft.shape == (num, 1, len(xt), 1) and out.fc is None and (out.kl == 0).all()
    return out.ft[:, 0, :, 0].numpy()  # (S, Nt)


def test_forward_without_context_is_the_prior_predictive_of_a_linear_model():
    """No hidden layer, standard prior ``w ~ N(0, I / D)``: ``f(x) = w·[x, 1]`` has mean 0 and covariance
    ``[x, 1]·[x', 1] / D`` (so variance ``‖[x, 1]‖² / D``); Monte Carlo within 5 standard errors."""
    model = BNNP(dim_x=2, hidden_dims=()).double()
    xt = np.random.default_rng(0).normal(size=(5, 2)) * np.array([[1.0], [2.0], [0.5], [3.0], [0.0]])
    num = 40_000
    f = _prior_predictive(model, xt, num)
    h = np.concatenate([xt, np.ones((5, 1))], 1)
    cov = h @ h.T / 3  # (Nt, Nt)
    var = np.diag(cov)
    assert np.all(np.abs(f.mean(0)) < 5 * np.sqrt(var / num))
    se_cov = np.sqrt((np.outer(var, var) + cov**2) / num)  # s.e. of a Gaussian sample covariance
    assert np.all(np.abs(np.cov(f.T) - cov) < 5 * se_cov)


def test_prior_predictive_variance_of_a_relu_network():
    """One ReLU hidden layer of width d, standard priors: pre-activations ``a_k ~ N(0, ‖[x, 1]‖² / D_1)``
    independently, ``E relu(a)² = Var a / 2``, so ``Var f(x) = (d ‖[x, 1]‖² / (2 D_1) + 1) / (d + 1)``."""
    width = 6
    model = BNNP(dim_x=1, hidden_dims=(width,), activation="relu").double()
    xt = np.array([[-3.0], [-0.5], [0.0], [1.0], [4.0]])
    num = 40_000
    f = _prior_predictive(model, xt, num)
    expected = (width * (xt[:, 0] ** 2 + 1) / (2 * 2) + 1) / (width + 1)
    se = (f**2).std(0) / np.sqrt(num)
    assert np.all(np.abs((f**2).mean(0) - expected) < 5 * se), ((f**2).mean(0), expected, se)
    assert np.all(np.abs(f.mean(0)) < 5 * np.sqrt(expected / num))


def test_carried_context_output_equals_decoding_the_sampled_weights():
    model = BNNP(dim_x=2, dim_y=1, hidden_dims=(8, 8), inf_hidden_dims=(8,)).double()
    xc, yc = torch.randn(2, 11, 2, dtype=torch.float64), torch.randn(2, 11, 1, dtype=torch.float64)
    torch.manual_seed(3)
    out = model(xc, yc, xc[:, :4], num_samples=3)
    torch.manual_seed(3)
    sample = model.sample_weights(xc, yc, num_samples=3)
    torch.testing.assert_close(out.fc, model.decode(sample.weights, xc), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.ft, model.decode(sample.weights, xc[:, :4]), rtol=0, atol=1e-12)
